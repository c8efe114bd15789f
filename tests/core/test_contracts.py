"""The typed boundary (core/contracts.py): the real gateway's shapes match the contracts."""

from __future__ import annotations

import dataclasses

import pytest

from pbpm_desktop.core import dashboard, events
from pbpm_desktop.core.contracts import EventName, GatewayState, KeyRow, VramSnapshot


async def test_the_real_snapshot_round_trips_through_the_contract(gateway) -> None:
    service = gateway.service
    raw = service.vram_snapshot()
    typed = VramSnapshot.from_dict(raw)  # raises on any key the contract does not know
    assert typed.to_dict() == raw
    assert {f.name for f in dataclasses.fields(VramSnapshot)} - {"taken_at"} == set(raw)
    assert typed.installed and typed.budget_limit_bytes > 0


async def test_the_dashboard_read_is_typed_and_stamped(gateway) -> None:
    first = dashboard.vram_snapshot(gateway.service)
    second = dashboard.vram_snapshot(gateway.service)
    assert isinstance(first, VramSnapshot)
    assert first.taken_at is not None and second.taken_at is not None
    assert second.taken_at >= first.taken_at
    assert "taken_at" not in first.to_dict()  # not part of the JSON shape


async def test_gateway_state_and_key_rows_use_the_contracts(gateway) -> None:
    service = gateway.service
    assert service.state is GatewayState.SERVING
    facts = dashboard.gateway_facts(service)
    assert facts["state"] == "serving" and facts["urls"] == service.urls()
    await service.create_key("contract", "c@example.org")
    row = next(r for r in await service.list_keys() if r["name"] == "contract")
    assert row["requests"] == 0 and row["tokens_used"] == 0 and row["last_used"] is None
    assert set(row) == set(KeyRow.__annotations__)  # every field the contract names, no more


def test_a_snapshot_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown VRAM snapshot fields: \\['budget_gb'\\]"):
        VramSnapshot.from_dict({"budget_gb": 12})


def test_event_names_are_the_strings_subscribers_compare_with() -> None:
    assert events.VRAM_STATE is EventName.VRAM_STATE
    assert EventName.VRAM_STATE == "vram.state"
    assert {e.value for e in EventName} == {
        "vram.state",
        "request.done",
        "keys.changed",
        "gateway.state",
        "ollama.state",
        "gateway.pause",
        "auth.failed",
        "ollama.exposure",
        "vram.swap",
    }
