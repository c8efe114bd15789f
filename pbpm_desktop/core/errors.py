"""The one error base of the core: every refusal carries its HTTP status and a message for people.

Keys, limits, VRAM, the upstream client and the HTTP layer each raise their own subclass (so
callers can catch what they handle), but the HTTP error middleware, the CLI and the desktop UI
only need this: `.status` is what the gateway answers, `.message` tells the user what to do,
`.headers` carries e.g. `Retry-After`, `.param` names the offending field for OpenAI clients.
"""

from __future__ import annotations

from collections.abc import Mapping


class GatewayError(Exception):
    """A request the gateway refuses or cannot serve, with the answer it gives."""

    status: int = 500

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        self.param = param
        self.retry_after = retry_after
        if retry_after:
            self.headers["Retry-After"] = str(retry_after)
