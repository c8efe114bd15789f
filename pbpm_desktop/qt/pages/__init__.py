"""Dashboard pages, one module each; `all_pages()` gives them in sidebar order."""

from __future__ import annotations

from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.pages.base import Page


def all_pages(ctx: UiContext) -> list[Page]:
    from pbpm_desktop.qt.pages.keys import KeysPage
    from pbpm_desktop.qt.pages.models import ModelsPage
    from pbpm_desktop.qt.pages.overview import OverviewPage
    from pbpm_desktop.qt.pages.requests import RequestsPage
    from pbpm_desktop.qt.pages.settings import SettingsPage
    from pbpm_desktop.qt.pages.usage import UsagePage

    return [
        OverviewPage(ctx),
        ModelsPage(ctx),
        KeysPage(ctx),
        UsagePage(ctx),
        RequestsPage(ctx),
        SettingsPage(ctx),
    ]
