"""The simulator's tests get a simulator of the default models with quick unloads.

It overrides tests/conftest.py's `sim` (the gateway tests' small set) for tests/simulator/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pbpm_desktop.simulator import OllamaSimulator


@pytest.fixture
async def sim() -> AsyncIterator[OllamaSimulator]:
    simulator = OllamaSimulator(unload_delay=0.01)
    await simulator.start()
    yield simulator
    await simulator.stop()
