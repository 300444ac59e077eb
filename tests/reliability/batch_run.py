"""A batch through an in-process System (real SQLite store, projections, PollerActor) against a `veo simulator`
process, with Flow faults, PollerActor crashes and storage outages injected, and everything the promises
are checked against. The simulator runs apart so that its own threads do not compete with the relay's for
the interpreter: the instants it records requests at are the instants they arrived.

The relay's own record of its requests comes from an httpx request hook on the System's client: the
instant each request to Flow or labs starts, as the relay sends it. The simulator's audit counts what
arrived. Both must show at most R requests in any sliding second.
"""

from __future__ import annotations

import bisect
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from domain.requests import GenerationSpec
from domain.values import TERMINAL_STATUSES
from projections.rows import HistoryRow
from server.bootstrap import Settings, System
from tests.reliability.processes import simulator_process
from tests.reliability.storage import break_event_store, break_read_model
from tests.reliability.verify import FailureKinds, classify_failures, matches_rebuild

__all__ = ["BatchPlan", "BatchReport", "Outage", "RequestLog", "max_in_window", "run_batch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPlan:
    """One in-process batch and the trouble injected into it."""

    jobs: int = 30
    seed: int = 1
    rate: float = 10.0
    lo: float = 0.5
    hi: float = 1.5
    delay_s: float = 0.05
    faults: Mapping[str, float] = field(default_factory=dict)
    timeout_s: float = 0.5
    """How long the simulator's `timeout` fault holds an answer (the relay's read timeout is 10 s)."""
    crashes: int = 0
    """PollerActor crashes injected at random moments while the batch runs."""
    crash_gap: tuple[float, float] = (0.2, 1.0)
    store_fault: tuple[float, float] | None = None
    """(after, for): the event store refuses writes ("disk full") from `after` s into the batch, `for` s."""
    read_model_fault: tuple[float, float] | None = None
    """(after, for): the read model refuses writes ("read-only") from `after` s into the batch, `for` s."""
    finish_timeout: float = 90.0


@dataclass
class BatchReport:
    """What one batch run saw."""

    plan: BatchPlan
    statuses: Counter[str]
    failures: FailureKinds
    rows: list[HistoryRow]
    audit: dict[str, Any]
    relay_max_in_1s: int
    requests: int
    restarts: int
    restore_seconds: list[float]
    rebuild_differs: list[str]
    elapsed: float
    outages: list[Outage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ambiguous_scenes(self) -> set[str]:
        """Scenes the simulator created and then answered ambiguously (500, timeout, unreadable body)."""
        return {op["scene_id"] for op in self.audit["operations"] if op["ambiguous"]}

    def _unrecorded_operations(self) -> list[str]:
        """Every operation Flow created is recorded on its generation, unless Flow's answer was ambiguous."""
        by_scene = {row.scene_id: row for row in self.rows}
        lost = [
            op["name"]
            for op in self.audit["operations"]
            if (row := by_scene.get(op["scene_id"])) is None
            or (row.operation_name != op["name"] and row.id not in self.failures.interrupted_by_answer)
        ]
        return [f"operations Flow created but the relay never recorded: {lost}"] if lost else []

    def check(self) -> list[str]:
        """Every broken promise, in words."""
        problems: list[str] = []
        audit = self.audit
        terminal = sum(self.statuses[s] for s in TERMINAL_STATUSES)
        if terminal != self.plan.jobs:
            problems.append(f"only {terminal} of {self.plan.jobs} generations are terminal: {dict(self.statuses)}")
        if set(self.failures.by_reason) - {"interrupted_submission"}:
            problems.append(f"failures for other reasons: {self.failures.by_reason}")
        if self.failures.interrupted_at_restore:
            problems.append(f"{len(self.failures.interrupted_at_restore)} submissions failed at a restore")
        scene_of = {row.id: row.scene_id for row in self.rows}
        unexplained = {gid for gid in self.failures.interrupted_by_answer if scene_of[gid] not in self.ambiguous_scenes}
        if unexplained or len(self.failures.interrupted_by_answer) > audit["ambiguous_submissions"]:
            problems.append(
                f"{len(self.failures.interrupted_by_answer)} interrupted submissions, {len(unexplained)} of them "
                f"not answered ambiguously; the simulator answered {audit['ambiguous_submissions']} ambiguously"
            )
        if audit["duplicate_scene_ids"]:
            problems.append(f"scenes created twice: {audit['duplicate_scene_ids']}")
        problems += self._unrecorded_operations()
        if audit["max_in_any_1s_window"] > self.plan.rate or audit["throttled_429"]:
            problems.append(f"Flow saw {audit['max_in_any_1s_window']} requests in one second")
        if self.relay_max_in_1s > self.plan.rate:
            problems.append(f"the relay started {self.relay_max_in_1s} requests in one second")
        if self.restarts != self.plan.crashes:
            problems.append(f"{self.restarts} restarts for {self.plan.crashes} crashes")
        if self.rebuild_differs:
            problems.append(f"the read model differs from a rebuild in {self.rebuild_differs}")
        return problems


@dataclass(frozen=True)
class Outage:
    """One injected storage fault and how the relay came back from it."""

    what: str
    seconds: float
    refused_writes: int
    waiting_max: int
    """The most Flow answers (event store) or events (read model) waiting to be recorded at once."""
    recovery_s: float
    """From the fault's end until nothing waited any more (mailbox empty, read model caught up)."""


class RequestLog:
    """The instants the relay starts requests (an httpx `request` hook; called from its worker threads)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> None:
        with self._lock:
            self.starts.append(time.monotonic())


def max_in_window(instants: list[float], width: float = 1.0) -> int:
    """The most instants in any half-open window of `width` seconds."""
    ordered = sorted(instants)
    return max((bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0)


def watch_requests(system: System) -> RequestLog:
    """Record every request the relay's HTTP client starts from now on."""
    log = RequestLog()
    client = system._http  # the test observes the wire: the relay's one client for Flow and labs
    assert client is not None
    client.event_hooks = {"request": [log], "response": []}
    return log


def statuses_of(system: System, ids: list[UUID]) -> list[HistoryRow]:
    """The rows of `ids` from the read model."""
    return system.history.get_many(system.db.reader(), [str(i) for i in ids])


def wait_terminal(system: System, ids: list[UUID], timeout: float) -> list[HistoryRow]:
    """Poll the read model until every generation is terminal (or `timeout` passes); the rows."""
    deadline = time.monotonic() + timeout
    while True:
        rows = statuses_of(system, ids)
        if len(rows) == len(ids) and all(row.status in TERMINAL_STATUSES for row in rows):
            return rows
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def crash_poller(system: System, timeout: float = 10.0) -> float:
    """Crash the PollerActor and wait for its successor's restore; the restore time the supervisor measured."""
    supervisor = system.poller
    before = supervisor.restarts
    supervisor.last_restart_seconds = None
    supervisor.crash("injected by the reliability run")
    deadline = time.monotonic() + timeout
    while supervisor.restarts == before or supervisor.last_restart_seconds is None:
        if time.monotonic() > deadline:
            raise AssertionError("the PollerActor was not restarted")
        time.sleep(0.005)
    return supervisor.last_restart_seconds


def run_batch(tmp_path: Path, plan: BatchPlan) -> BatchReport:
    """Run the plan on a fresh System; the report with its problems filled in."""
    faults = ",".join(f"{name}={p}" for name, p in plan.faults.items())
    simulator = simulator_process(
        tmp_path / "simulator",
        lo=plan.lo,
        hi=plan.hi,
        seed=plan.seed,
        rate=plan.rate,
        faults=faults,
        timeout_s=plan.timeout_s,
    )
    with simulator as sim:
        # Without the video keeper: its events after each Completed would land while the read model is
        # compared with a rebuild (kept videos have their own tests: tests/e2e/test_kept_videos.py).
        settings = Settings(
            data_dir=tmp_path / "relay", rate=plan.rate, flow_url=sim.url, labs_url=sim.url, keep_videos=False
        )
        system = System(settings)
        started = time.monotonic()
        system.start()
        try:
            log = watch_requests(system)
            ids, restores, outages = _inject(system, plan, started)
            rows = wait_terminal(system, ids, plan.finish_timeout)
            elapsed = time.monotonic() - started
            audit = sim.audit()
            system.projections.wait_for(system.app.last_position(), 60.0)  # if not, the rebuild check says so
            differs = matches_rebuild(system.app, system.db)
            restarts = system.poller.restarts
        finally:
            system.stop()
    report = BatchReport(
        plan=plan,
        statuses=Counter(row.status for row in rows),
        failures=classify_failures(rows),
        rows=rows,
        audit=audit,
        relay_max_in_1s=max_in_window(log.starts),
        requests=len(log.starts),
        restarts=restarts,
        restore_seconds=restores,
        rebuild_differs=differs,
        elapsed=elapsed,
        outages=outages,
    )
    report.problems = report.check()
    return report


def _inject(system: System, plan: BatchPlan, started: float) -> tuple[list[UUID], list[float], list[Outage]]:
    """Record the batch and hand it to the poller, then crash it and break the storage as planned."""
    rng = random.Random(plan.seed)
    specs = [GenerationSpec(prompt=f"reliability scene {index}") for index in range(plan.jobs)]
    _, ids, _ = system.app.request_batch(specs, delay_s=plan.delay_s)
    system.poller.enqueue(ids, delay_s=plan.delay_s)
    restores: list[float] = []
    for _ in range(plan.crashes):
        time.sleep(rng.uniform(*plan.crash_gap))
        restores.append(crash_poller(system))
    return ids, restores, _outages(system, plan, started)


def _outages(system: System, plan: BatchPlan, started: float) -> list[Outage]:
    """Inject the plan's storage faults, one after the other, and measure each."""

    def answers_waiting() -> int:
        return len(system.poller.calls.pending())

    def events_waiting() -> int:
        return system.app.last_position() - system.projections.position

    found: list[Outage] = []
    for what, timing in (("event store full", plan.store_fault), ("read model read-only", plan.read_model_fault)):
        if timing is None:
            continue
        after, seconds = timing
        with pytest.MonkeyPatch.context() as patch:
            if what == "event store full":
                fault, waiting = break_event_store(patch, system.app), answers_waiting
            else:
                fault, waiting = break_read_model(patch, system.db), events_waiting
            time.sleep(max(0.0, started + after - time.monotonic()))
            fault.on()
            most = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                most = max(most, waiting())
                time.sleep(0.01)
            fault.off()
            cleared = time.monotonic()
            while waiting() > 0 and time.monotonic() < cleared + 60:
                time.sleep(0.005)
            found.append(Outage(what, seconds, fault.raised, most, time.monotonic() - cleared))
    return found
