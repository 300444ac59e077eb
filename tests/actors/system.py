"""A whole system (real SQLite store, projections, PollerActor, simulator over loopback) for tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from domain.values import TERMINAL_STATUSES
from projections.rows import HistoryRow
from server.bootstrap import Settings, System
from veo_simulator import SimulatorConfig


@contextmanager
def running_system(tmp_path: Path, **overrides: object) -> Iterator[System]:
    simulator = overrides.pop("simulator", SimulatorConfig(lo=0.3, hi=0.8, seed=7))
    settings = Settings(data_dir=tmp_path, simulator=simulator, **overrides)  # type: ignore[arg-type]
    system = System(settings)
    system.start()
    try:
        yield system
    finally:
        system.stop()


def row(system: System, generation_id: UUID) -> HistoryRow | None:
    return system.history.get(system.db.reader(), str(generation_id))


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll an observable condition until it holds (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def statuses(system: System, ids: list[UUID]) -> list[str]:
    return [r.status if (r := row(system, i)) is not None else "missing" for i in ids]


def all_terminal(system: System, ids: list[UUID]) -> Callable[[], bool]:
    return lambda: all(s in TERMINAL_STATUSES for s in statuses(system, ids))
