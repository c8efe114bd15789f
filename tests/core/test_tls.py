"""HTTPS with PBPM_TLS_CERT / PBPM_TLS_KEY: a throwaway self-signed certificate made here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pbpm_desktop import cli
from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.settings import ConfigError
from pbpm_desktop.core.tls import TlsError, fingerprint
from tests.conftest import MASTER, make_settings


def make_cert(directory: Path, name: str = "gw") -> tuple[Path, Path, x509.Certificate]:
    """A self-signed certificate for 127.0.0.1 / localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pbpm test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert


async def test_https_works_and_plain_http_does_not(sim, tmp_path: Path) -> None:
    cert_path, key_path, cert = make_cert(tmp_path)
    settings = make_settings(tmp_path, sim.url, tls_cert=str(cert_path), tls_key=str(key_path))
    service = GatewayService(settings)
    await service.start()
    try:
        assert service.url is not None and service.url.startswith("https://127.0.0.1:")
        expected = cert.fingerprint(hashes.SHA256()).hex(":").upper()
        assert service.tls_fingerprint == expected
        trust = ssl.create_default_context(cafile=str(cert_path))
        async with aiohttp.ClientSession() as http:
            async with http.get(service.url + "/health", ssl=trust) as r:
                assert r.status == 200
                assert (await r.json())["status"] == "ok"
            created = await service.create_key("tls", "")
            headers = {"Authorization": f"Bearer {created['api_key']}"}
            body = {"model": "llama3.2:3b", "prompt": "hi", "stream": False}
            async with http.post(
                service.url + "/api/generate", json=body, headers=headers, ssl=trust
            ) as r:
                assert r.status == 200 and (await r.json())["done"] is True
            # a client that does not trust the certificate is refused by its own TLS check
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(service.url + "/health")
            plain = service.url.replace("https://", "http://")
            with pytest.raises(aiohttp.ClientError):
                async with http.get(plain + "/health") as r:
                    await r.read()
    finally:
        await service.stop()


def test_fingerprint_of_a_pem_file(tmp_path: Path) -> None:
    cert_path, _, cert = make_cert(tmp_path)
    value = fingerprint(cert_path)
    assert value == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert len(value) == 95


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("cert only", "needs both PBPM_TLS_CERT and PBPM_TLS_KEY; PBPM_TLS_KEY is not set"),
        ("key only", "PBPM_TLS_CERT is not set"),
        ("missing file", "no such file"),
        ("not pem", "both must be PEM files"),
        ("wrong key", "the key must belong to the certificate"),
    ],
)
async def test_bad_tls_files_stop_start_up_with_one_clear_line(
    sim, tmp_path: Path, case: str, message: str
) -> None:
    cert_path, key_path, _ = make_cert(tmp_path)
    _, other_key, _ = make_cert(tmp_path, "other")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    tls = {
        "cert only": {"tls_cert": str(cert_path)},
        "key only": {"tls_key": str(key_path)},
        "missing file": {"tls_cert": str(tmp_path / "nope.crt"), "tls_key": str(key_path)},
        "not pem": {"tls_cert": str(junk), "tls_key": str(key_path)},
        "wrong key": {"tls_cert": str(cert_path), "tls_key": str(other_key)},
    }[case]
    service = GatewayService(make_settings(tmp_path, sim.url, **tls))
    with pytest.raises(TlsError, match=message) as info:
        await service.start()
    assert isinstance(info.value, ConfigError) and "\n" not in str(info.value)
    assert service.state == "stopped" and service.db is None  # nothing was left started


def test_serve_with_a_missing_certificate_says_so_without_traceback(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    for name, value in {
        "PBPM_DATA_DIR": str(tmp_path),
        "MASTER_API_KEY": MASTER,
        "PBPM_HOST": "127.0.0.1",
        "PBPM_PORT": "0",
        "OLLAMA_URL": "http://127.0.0.1:9",
        "PBPM_TLS_CERT": str(tmp_path / "missing.crt"),
        "PBPM_TLS_KEY": str(tmp_path / "missing.key"),
        "PBPM_CONFIG_FILE": str(tmp_path / "none.toml"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["serve"])
    assert str(info.value).startswith("configuration error: PBPM_TLS_CERT=")
    assert "no such file" in str(info.value)
