"""The brute-force guard (DESIGN.md §3): failed authentications are counted per address.

After `limit` failures from one address within `window` seconds, that address gets 429 with
`Retry-After` on every route but `/health` until the oldest failure leaves the window, valid
key or not (a valid guess must look like every other answer, or the guard is an oracle).
Other addresses are not affected. Without it, ~1,100-1,500 master-key guesses per second
were answered (issue 9).

Memory is bounded whatever the number of addresses: at most `max_addresses` are tracked
(least recently failing out first), each with at most `limit` timestamps. IPv6 clients are
counted per /64, the block one host usually controls. A failure is a credential presented
and refused (unknown, revoked, expired key); a request with no key guesses nothing and is
not counted.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque


class AuthGuard:
    def __init__(self, limit: int = 10, window: float = 60.0, max_addresses: int = 4096) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self.refused = 0  # requests answered 429 by the guard
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, address: str | None) -> int | None:
        """Seconds `address` must wait, or None if it may try."""
        failures = self._failures.get(_bucket(address))
        if failures is None or len(failures) < self.limit:
            return None
        wait = failures[0] + self.window - time.monotonic()
        if wait <= 0:
            return None
        self.refused += 1
        return max(1, math.ceil(wait))

    def failed(self, address: str | None) -> None:
        """Count one refused credential from `address`."""
        bucket = _bucket(address)
        failures = self._failures.get(bucket)
        if failures is None:
            failures = self._failures[bucket] = deque(maxlen=self.limit)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(bucket)
        failures.append(time.monotonic())


def _bucket(address: str | None) -> str:
    if not address or ":" not in address:
        return address or ""
    try:
        ip = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return f"{int(ip) >> 64:x}::/64"
