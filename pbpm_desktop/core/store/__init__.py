"""Persistence (Tortoise ORM). Used only on the gateway's event loop."""

from pbpm_desktop.core.store.db import Database

__all__ = ["Database"]
