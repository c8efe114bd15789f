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
    """How a stream tracker holds SSE events: whole events are read at once, an event split
    across reads waits for its end, and an event too large to hold is passed on unread up to
    its blank line, after which the events are read as usual. A tracker's `feed` starts with
    `if self._passing: return self._pass(data)`, then reads what `_events` gives it."""

    __slots__ = ("_buf", "_newline", "_passing")

    def __init__(self) -> None:
        self._buf = b""  # the start of an event whose end has not come yet
        self._passing = False  # inside an event too large to hold, passed on unread
        self._newline = False  # ... whose last byte so far was a newline

    def feed(self, data: bytes) -> bytes:  # the tracker's own
        raise NotImplementedError

    def flush(self) -> bytes:
        """What is still held at the end of the stream (an event without its blank line)."""
        rest, self._buf = self._buf, b""
        return rest

    def _events(self, data: bytes) -> tuple[bytes, bool]:
        """The held bytes plus `data`, cut after their last blank line: (complete events,
        True), the rest held back; or, when no event is complete yet, (what goes to the
        client now, False): nothing while the event is small, all of it once it outgrows
        MAX_EVENT (the rest of that event then passes through `_pass`)."""
        buf = self._buf + data if self._buf else data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            if len(buf) > MAX_EVENT:  # not a usage event: on to the client as it comes
                self._buf, self._passing, self._newline = b"", True, buf.endswith(b"\n")
                return buf, False
            self._buf = buf
            return b"", False
        end = cut + 2
        ready, self._buf = (buf, b"") if end == len(buf) else (buf[:end], buf[end:])
        return ready, True

    def _pass(self, data: bytes) -> bytes:
        end, self._newline = oversized_event_end(data, self._newline)
        if end is None:
            return data
        self._passing = False
        rest = data[end:]
        return data[:end] + self.feed(rest) if rest else data
