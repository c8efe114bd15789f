"""Readable error messages for the UI: the user sees one sentence, the log gets the traceback.

Core exceptions already carry messages written for people (`GatewayError.message`,
core/errors.py; `OSError.strerror`…); this module picks that text, and falls back to a
short generic sentence for anything unexpected, so no traceback ever reaches a dialog.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from PySide6.QtCore import QCoreApplication

from pbpm_desktop.qt.advice import for_gui

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """One human sentence for `exc` (never a traceback), with GUI advice (see qt/advice)."""
    return for_gui(_sentence(exc))


def _sentence(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return message
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | concurrent.futures.TimeoutError):
        return QCoreApplication.translate(
            "errors", "The operation timed out. Is Ollama busy or unreachable?"
        )
    if isinstance(exc, OSError):
        text = str(exc.args[1]) if len(exc.args) > 1 else (exc.strerror or str(exc))
        return text or QCoreApplication.translate("errors", "A system error occurred.")
    text = str(exc).strip()
    if isinstance(exc, RuntimeError | ValueError | KeyError) and text:
        return text.strip("'\"")
    if text:
        return f"{type(exc).__name__}: {text}"
    return QCoreApplication.translate(
        "errors", "Unexpected error ({name}); see the log for details."
    ).format(name=type(exc).__name__)
