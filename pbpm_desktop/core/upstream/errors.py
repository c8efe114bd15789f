"""The errors the Ollama client raises; each carries the HTTP status the gateway answers with."""

from __future__ import annotations

from pbpm_desktop.core.errors import GatewayError


class OllamaError(GatewayError):
    """Ollama answered with an error status (or with something that is not HTTP: 502)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


class OllamaUnreachable(OllamaError):
    """No connection to Ollama (not running, wrong URL)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            502,
            f"Ollama is unreachable at {url} ({reason}). Start Ollama (`ollama serve`) "
            "or set OLLAMA_URL to where it runs.",
        )


class OllamaTimeout(OllamaError):
    def __init__(self, what: str) -> None:
        super().__init__(504, f"Ollama did not answer in time ({what}); try again later.")
