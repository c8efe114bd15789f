"""Keep None, True, False (and the other singletons) alive despite PySide 6.12's
reference-count drift on Python 3.11.

Measured in this project (tests/qt/test_layout.py, with 1,000 keys): several PySide6 6.12
bindings give back a reference to `None` they never took — `QTableWidget.setItem` and
`setRowCount`, `QListWidget.addItem`, `QStandardItemModel.setItem` each lower
`sys.getrefcount(None)` by one per call — so a Keys page refreshing a few thousand cells
drives None's count to zero and CPython aborts ("none_dealloc: deallocating None"). Others
(`setCellWidget`, `addWidget`) drift the other way, which is harmless. The full Qt test
run then aborted the same way on True/False ("bool_dealloc"), or crashed later in a timer
event once a freed singleton's memory was reused.

CPython 3.12 made these singletons immortal (PEP 683) and the drift cannot hurt there. On
3.11 we do the equivalent once, at import: add 2**40 references to each, which no realistic
session can spend. They are never freed anyway, so the extra count changes nothing else.
"""

from __future__ import annotations

import ctypes
import sys

#: references added to None on interpreters where it is not immortal
RESERVE = 1 << 40


#: the singletons seen drifting; only non-container objects: a GC-tracked one (the empty
#: tuple) given a huge count corrupted the collector's bookkeeping and crashed later
SINGLETONS: tuple[object, ...] = (None, True, False, Ellipsis, NotImplemented)


def make_singletons_immortal() -> bool:
    """Add RESERVE references to each singleton (CPython < 3.12); True if done now."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if sys.getrefcount(None) > RESERVE // 2:
        return False  # already done in this process
    for obj in SINGLETONS:
        ctypes.c_ssize_t.from_address(id(obj)).value += RESERVE
    return True


make_singletons_immortal()
