"""Server-sent events held back only while small: the one rule every stream tracker shares.

A tracker waits for an event's blank line before reading it (usage, errors), but a hostile or
broken upstream can send an event that never ends: past `MAX_EVENT` bytes the rest of that
event is passed on to the client unread, as it comes, and memory stays bounded.
"""

from __future__ import annotations

MAX_EVENT = 1024 * 1024  # an SSE event held back whole to read (else passed on as it comes)


def oversized_event_end(data: bytes, newline: bool) -> tuple[int | None, bool]:
    """Inside an oversized event: the index just past its blank line in `data` (None if it
    goes on), and whether `data` ends on a newline (`newline`: the previous piece did)."""
    if newline and data[:1] == b"\n":
        return 1, False
    at = data.find(b"\n\n")
    if at < 0:
        return None, data.endswith(b"\n")
    return at + 2, False


class PassesOversizedEvents:
    """What a stream tracker does inside an event too large to hold: pass it on unread, up to
    its blank line, then read the events after it as usual. Trackers using it find `_passing`
    and `_newline` here and set `_passing` when an event outgrows MAX_EVENT."""

    __slots__ = ("_newline", "_passing")

    def __init__(self) -> None:
        self._passing = False  # inside an event too large to hold, passed on unread
        self._newline = False  # ... whose last byte so far was a newline

    def feed(self, data: bytes) -> bytes:  # the tracker's own
        raise NotImplementedError

    def _pass(self, data: bytes) -> bytes:
        end, self._newline = oversized_event_end(data, self._newline)
        if end is None:
            return data
        self._passing = False
        rest = data[end:]
        return data[:end] + self.feed(rest) if rest else data
