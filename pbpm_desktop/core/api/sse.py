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
