"""Refuse to run on a Qt binding that leaks references to None (or True).

PySide6 6.12.x wheels on CPython < 3.12 drop one reference to `None` on every Qt method that
returns nothing (`setText`, `setEnabled`…) and one to `True` on every signal emission (upstream
PYSIDE-3474, a consequence of building against 3.12 headers, PYSIDE-3424). From 3.12 on those
objects are immortal and nothing happens; on 3.11 the count reaches zero after roughly 50,000
UI updates and CPython aborts with "none_dealloc: deallocating None", taking the embedded
gateway with it. pyproject.toml excludes those releases; this check catches a binding installed
by hand (`pip install pyside6`) before the app starts, in well under a millisecond.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import QObject, Signal

#: calls made by the probe; a leaking binding loses exactly one reference per call
PROBE_CALLS = 64
#: the dependency range that is known not to leak on this Python
SAFE_REQUIREMENT = "PySide6-Essentials>=6.6,<6.12"


class _Probe(QObject):
    ping = Signal()


def leaked_references(calls: int = PROBE_CALLS) -> tuple[int, int]:
    """References to (None, True) lost over `calls` void Qt calls and signal emissions.

    Both are about 0 on a sound binding (a few either way from unrelated objects) and about
    `calls` on a leaking one.
    """
    probe = _Probe()
    probe.ping.connect(_noop)
    none_before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")  # void method: the None it returns must be balanced
    none_lost = none_before - sys.getrefcount(None)
    true_before = sys.getrefcount(True)
    for _ in range(calls):
        probe.ping.emit()
    true_lost = true_before - sys.getrefcount(True)
    probe.ping.disconnect(_noop)
    _give_back(None, none_lost)
    _give_back(True, true_lost)
    return none_lost, true_lost


def _give_back(obj: object, count: int) -> None:
    """Return references a leaking binding took, so that reporting it cannot abort at exit."""
    for _ in range(count):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _noop() -> None:
    """Slot of the probe signal (a plain function: no bound-method objects come and go)."""


def binding_problem(calls: int = PROBE_CALLS) -> str | None:
    """A one-paragraph explanation when the installed PySide6 leaks, else None."""
    if sys.version_info >= (3, 12):  # None and True are immortal: the leak cannot hurt
        return None
    none_lost, true_lost = leaked_references(calls)
    if max(none_lost, true_lost) < calls // 2:
        return None
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"PySide6 {PYSIDE_VERSION} on Python {python} loses a reference to None on every Qt "
        f"call (PYSIDE-3474); the app would abort within minutes. Install a sound version: "
        f"pip install '{SAFE_REQUIREMENT}' (or use Python 3.12+), or run the headless "
        "gateway: pbpm-desktop serve"
    )
