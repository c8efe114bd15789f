"""HTTPS for the gateway: `PBPM_TLS_CERT` / `PBPM_TLS_KEY` (PEM files) -> an `ssl.SSLContext`.

Keys cross Wi-Fi in every request, so on a LAN the gateway should speak TLS. Everything that
can be wrong with the two files (one set without the other, a missing file, not PEM, a key
that does not belong to the certificate) stops start-up with one line that names the variable
and the fix, through `ConfigError` like any other bad setting.

The certificate's SHA-256 fingerprint is what a user compares on the Overview page with what
their client shows (curl -v, a browser's certificate viewer) before trusting it.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path

from pbpm_desktop.core.settings import ConfigError, Settings

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s+.+?\s+-----END CERTIFICATE-----", re.DOTALL)


class TlsError(ConfigError):
    """The TLS settings cannot be used; the message says which file and what to do."""


def tls_enabled(settings: Settings) -> bool:
    return bool(settings.tls_cert or settings.tls_key)


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The server-side context for the configured files, or None when TLS is not configured."""
    if not tls_enabled(settings):
        return None
    cert, key = _paths(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsError(
            f"cannot use PBPM_TLS_CERT={cert} with PBPM_TLS_KEY={key} ({exc.reason or exc}): "
            "both must be PEM files and the key must belong to the certificate"
        ) from exc
    except OSError as exc:
        raise TlsError(f"cannot read the TLS files ({exc.strerror or exc}); check them") from exc
    return context


def fingerprint(cert_file: str | Path) -> str:
    """SHA-256 fingerprint of the (first) certificate in a PEM file: "AB:12:…" (95 chars)."""
    path = Path(cert_file)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise TlsError(f"PBPM_TLS_CERT={path}: {exc.strerror or exc}") from exc
    match = _PEM_CERT.search(text)
    if match is None:
        raise TlsError(f"PBPM_TLS_CERT={path} holds no PEM certificate (BEGIN CERTIFICATE)")
    try:
        der = ssl.PEM_cert_to_DER_cert(match.group(0))
    except ValueError as exc:
        raise TlsError(f"PBPM_TLS_CERT={path}: the certificate is not valid PEM") from exc
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _paths(settings: Settings) -> tuple[Path, Path]:
    if not (settings.tls_cert and settings.tls_key):
        missing = "PBPM_TLS_KEY" if settings.tls_cert else "PBPM_TLS_CERT"
        raise TlsError(
            f"HTTPS needs both PBPM_TLS_CERT and PBPM_TLS_KEY; {missing} is not set "
            "(set both, or neither for plain HTTP)"
        )
    out = []
    for name, value in (("PBPM_TLS_CERT", settings.tls_cert), ("PBPM_TLS_KEY", settings.tls_key)):
        path = Path(value).expanduser()
        if not path.is_file():
            raise TlsError(f"{name}={path}: no such file; point it at a PEM file (see README, TLS)")
        out.append(path)
    return out[0], out[1]
