"""Fixtures that start loopback simulators and httpx clients, and close them afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from veo_simulator import Simulator, SimulatorConfig
from veo_simulator.state import Clock

StartSim = Callable[..., Simulator]
MakeClient = Callable[..., httpx.Client]


def sim_config(**overrides: Any) -> SimulatorConfig:
    """Fast settings: no rate limit, instant operations, short holds, fixed seed."""
    settings: dict[str, Any] = {"port": 0, "rate": 0.0, "lo": 0.0, "hi": 0.0, "timeout_s": 1.0, "seed": 1}
    settings.update(overrides)
    return SimulatorConfig(**settings)


@pytest.fixture
def start_sim() -> Iterator[StartSim]:
    """Start simulators (test settings overridden by keywords); all are stopped after the test."""
    started: list[Simulator] = []

    def start(*, wall: Clock | None = None, monotonic: Clock | None = None, **overrides: Any) -> Simulator:
        clocks: dict[str, Clock] = {}
        if wall is not None:
            clocks["wall"] = wall
        if monotonic is not None:
            clocks["monotonic"] = monotonic
        sim = Simulator(sim_config(**overrides), **clocks)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """httpx clients on a simulator, bearer token set unless ``token=""``; all closed after the test."""
    clients: list[httpx.Client] = []

    def make(sim: Simulator, token: str = "ya29.test-token", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=sim.url, headers=headers, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
