"""Every refusal of the core is a GatewayError: one status, one message, one set of headers."""

from __future__ import annotations

import pytest

from pbpm_desktop.core.access.keys import KeyServiceError
from pbpm_desktop.core.access.policy import PolicyRefusal
from pbpm_desktop.core.access.quota import QuotaCut
from pbpm_desktop.core.errors import GatewayError
from pbpm_desktop.core.http.errors import ApiError
from pbpm_desktop.core.pause import SharingPaused
from pbpm_desktop.core.upstream.errors import OllamaError, OllamaTimeout, OllamaUnreachable
from pbpm_desktop.core.vram.errors import ModelNotInstalled, ModelTooLarge, SwapTimeout, VramError


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ApiError(400, "bad field", param="model"), 400),
        (KeyServiceError(404, "no such key"), 404),
        (PolicyRefusal(429, "slow down", retry_after=7), 429),
        (OllamaError(500, "runner crashed"), 500),
        (OllamaUnreachable("http://127.0.0.1:11434", "refused"), 502),
        (OllamaTimeout("first byte"), 504),
        (QuotaCut(30), 429),
        (VramError("busy"), 503),
        (ModelNotInstalled("pull it"), 404),
        (ModelTooLarge("too big"), 507),
        (SwapTimeout("later"), 503),
    ],
)
def test_every_core_error_is_a_gateway_error(error: GatewayError, status: int) -> None:
    assert isinstance(error, GatewayError)
    assert error.status == status
    assert error.message and str(error) == error.message


def test_retry_after_and_param_reach_the_shared_fields() -> None:
    refusal = PolicyRefusal(429, "slow down", retry_after=7)
    assert refusal.headers == {"Retry-After": "7"} and refusal.retry_after == 7
    api = ApiError(400, "bad field", headers={"Allow": "POST"}, param="model")
    assert api.headers == {"Allow": "POST"} and api.param == "model"
    assert PolicyRefusal(403, "no").headers == {}


def test_sharing_paused_is_a_refusal_with_its_own_status() -> None:
    assert issubclass(SharingPaused, PolicyRefusal)
    assert issubclass(SharingPaused, GatewayError)
