"""CORS (PBPM_CORS_ORIGINS): preflights without a key from allowed origins, headers on every
response to them (errors and streams too), nothing at all for other origins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.http.cors import CorsPolicy
from pbpm_desktop.core.settings import ConfigError
from pbpm_desktop.simulator import OllamaSimulator
from tests.conftest import Gateway, make_settings

ALLOWED = "https://chat.example.org"
EXTENSION = "chrome-extension://abcdefghijklmnop"
OTHER = "https://evil.example.com"
SDK_HEADERS = "authorization, x-api-key, content-type, anthropic-version, x-stainless-os"


@pytest.fixture
async def cors_gateway(sim: OllamaSimulator, tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = make_settings(tmp_path, sim.url, cors_origins=f"{ALLOWED}, chrome-extension://*")
    service = GatewayService(settings)
    await service.start()
    created = await service.create_key("browser")
    yield Gateway(service, service.url or "", sim, created["api_key"], created["id"])
    await service.stop()


def preflight(origin: str, headers: str = SDK_HEADERS) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


def cors_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control")}


@pytest.mark.parametrize("origin", [ALLOWED, EXTENSION])
async def test_preflight_from_an_allowed_origin_needs_no_key(
    cors_gateway: Gateway, http, origin: str
) -> None:
    for path in ("/v1/messages", "/v1/chat/completions", "/api/chat"):
        async with http.options(cors_gateway.url + path, headers=preflight(origin)) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == origin
            allowed = {
                h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")
            }
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "x-api-key", "content-type", "anthropic-version"} <= allowed
    assert "x-stainless-os" in allowed  # an SDK header family, allowed as requested


async def test_responses_to_an_allowed_origin_carry_the_origin_errors_and_streams_too(
    cors_gateway: Gateway, http
) -> None:
    body = {"model": "llama3.2:3b", "max_tokens": 5, "stream": True, "messages": []}
    body["messages"] = [{"role": "user", "content": "hi"}]
    headers = {"Origin": ALLOWED, "x-api-key": cors_gateway.client_key}
    async with http.post(cors_gateway.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 200 and "message_stop" in await r.text()
        assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "Retry-After" in r.headers["Access-Control-Expose-Headers"]
    async with http.post(
        cors_gateway.url + "/v1/messages", json=body, headers={"Origin": ALLOWED}
    ) as r:
        assert r.status == 401  # no key: refused, but the page may read why
        assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert (await r.json())["error"]["type"] == "authentication_error"


async def test_other_origins_get_no_cors_headers(cors_gateway: Gateway, http) -> None:
    async with http.options(cors_gateway.url + "/v1/messages", headers=preflight(OTHER)) as r:
        assert r.status == 401  # not answered as a preflight: it needs a key like anything else
        assert cors_headers(r) == {}
    body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Origin": OTHER, **cors_gateway.auth()}
    async with http.post(
        cors_gateway.url + "/v1/chat/completions", json=body, headers=headers
    ) as r:
        assert r.status == 200  # a non-browser client may still call; the browser refuses it
        assert cors_headers(r) == {}


async def test_without_the_setting_there_is_no_cors_at_all(gateway: Gateway, http) -> None:
    async with http.options(gateway.url + "/v1/messages", headers=preflight(ALLOWED)) as r:
        assert r.status == 401 and cors_headers(r) == {}
    async with http.get(
        gateway.url + "/v1/models", headers={"Origin": ALLOWED, **gateway.auth()}
    ) as r:
        assert r.status == 200 and cors_headers(r) == {}


async def test_a_lan_gateway_answers_chromes_private_network_preflight(
    cors_gateway: Gateway, http
) -> None:
    headers = {**preflight(ALLOWED), "Access-Control-Request-Private-Network": "true"}
    async with http.options(cors_gateway.url + "/v1/responses", headers=headers) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Private-Network"] == "true"


def test_origin_patterns() -> None:
    policy = CorsPolicy(["https://Chat.Example.org/", "http://localhost:*", "moz-extension://*"])
    assert policy.allows("https://chat.example.org")
    assert policy.allows("http://localhost:3000") and policy.allows("moz-extension://x-y")
    assert not policy.allows("https://chat.example.org.evil.com")
    assert not policy.allows("https://localhost:3000")
    assert CorsPolicy(["*"]).allows(OTHER)
    assert not CorsPolicy([]).allows(ALLOWED)


def test_a_bad_origin_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"PBPM_CORS_ORIGINS.*scheme://host"):
        CorsPolicy(["chat.example.org"])
