"""Crash run: kill -9 the whole `veo serve` at random moments during a batch, restart it, and account for everything.

The Flow simulator is its own process (with a state file), so it outlives every kill and its audit
covers the whole run. A websocket client follows every channel and resumes after its last position
each time the relay comes back. After each kill, before the restart, the dead relay's store is read to
note which generations had an open submission (`Submitted` as the last word: the request may or may
not have reached Flow). Once every generation is terminal the relay is stopped cleanly and its files
are checked (`verify.check_store`).

What the run proves (see `CrashReport.problems`):
- every requested generation is terminal, and the only failures are `interrupted_submission`;
- Flow created no scene twice and was never even asked twice for one scene; no 1-s window held more
  than R requests;
- the generations failed at restore are exactly those with an open submission at some kill, i.e. none
  was failed while the relay held proof that Flow had not got it (only `Requested` or `Deferred`);
  ambiguous answers from Flow were none here (no faults injected), so no other interrupted failure;
- every operation Flow created is recorded on its generation, except for scenes whose answer the kill
  swallowed (those generations failed at restore, as the contract says);
- the read model equals a rebuild from the event store, both SQLite files pass `integrity_check`;
- the client saw every journal delta exactly once, in order, resumed every time.

An open submission whose scene the simulator never saw is possible: `Submitted` is made durable
*before* the request is sent, so a kill in between leaves a job the relay must fail (it cannot know the
request never left). `CrashReport.never_reached_flow` counts them; they are not an error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.values import TERMINAL_STATUSES, Status
from server.store import locate
from tests.reliability.processes import KillableRelay, free_port, simulator_process
from tests.reliability.verify import Delivery, FailureKinds, StoreCheck, check_store, classify_failures, delivery
from tests.reliability.watcher import DeltaWatcher
from veo_client.relay_client import AUTO_ID, RelayClient, RelayUnavailable, convert_data
from veo_client.results import HistoryRow
from veo_protocol import BatchGenerate, GetStatuses

__all__ = ["CrashPlan", "CrashReport", "open_submissions", "run_crash"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrashPlan:
    """Sizes and timings of one crash run."""

    jobs: int = 40
    kills: int = 3
    seed: int = 1
    lo: float = 0.5
    hi: float = 1.5
    delay_ms: int = 100
    uptime: tuple[float, float] = (0.3, 1.5)
    """How long the relay runs before each kill (uniform, seconds after it announced itself)."""
    rate: float = 10.0
    faults: str = "slow=0.5"
    """Simulator faults: `slow` holds half the answers 0.2-1 s, as the real Flow takes a while to answer a
    submission; on loopback a kill would otherwise almost never find one in flight."""
    finish_timeout: float = 90.0


@dataclass
class CrashReport:
    """Everything observed in one crash run."""

    plan: CrashPlan
    ids: list[UUID]
    statuses: Counter[str]
    in_flight_at_kill: list[set[str]]
    restart_seconds: list[float]
    elapsed: float
    audit: dict[str, Any]
    store: StoreCheck
    failures: FailureKinds
    delivery: Delivery
    connections: int
    not_resumed: int
    exit_code: int
    problems: list[str] = field(default_factory=list)

    @property
    def kills_with_submission_in_flight(self) -> int:
        """Kills that found at least one open submission."""
        return sum(1 for found in self.in_flight_at_kill if found)

    @property
    def open_at_kills(self) -> set[str]:
        """Generations with an open submission at some kill."""
        return set().union(*self.in_flight_at_kill) if self.in_flight_at_kill else set()

    @property
    def created_scenes(self) -> set[str]:
        """Scenes Flow created an operation for."""
        return set(self.audit["generate_calls_per_scene"])

    @property
    def never_reached_flow(self) -> int:
        """Generations failed at restore whose request never reached the simulator."""
        attempted = set(self.audit["generate_attempts_per_scene"])
        return sum(1 for gid in self.failures.interrupted_at_restore if self.store.scene_of[gid] not in attempted)

    @property
    def charged_but_failed(self) -> int:
        """Generations failed at restore although Flow had created their operation (the kill ate the answer)."""
        return sum(1 for gid in self.failures.interrupted_at_restore if self.store.scene_of[gid] in self.created_scenes)

    def check(self) -> list[str]:
        """Every broken promise, in words (empty: the run kept them all)."""
        problems: list[str] = []
        audit = self.audit
        terminal = sum(self.statuses[s] for s in TERMINAL_STATUSES)
        if terminal != self.plan.jobs:
            problems.append(f"only {terminal} of {self.plan.jobs} generations are terminal: {dict(self.statuses)}")
        if set(self.failures.by_reason) - {"interrupted_submission"}:
            problems.append(f"failures other than interrupted_submission: {self.failures.by_reason}")
        if audit["duplicate_scene_ids"]:
            problems.append(f"scenes created twice: {audit['duplicate_scene_ids']}")
        resent = {s: n for s, n in audit["generate_attempts_per_scene"].items() if n > 1}
        if resent:
            problems.append(f"scenes sent more than once: {resent}")
        if audit["max_in_any_1s_window"] > self.plan.rate or audit["throttled_429"]:
            problems.append(
                f"budget: {audit['max_in_any_1s_window']} requests in one second, {audit['throttled_429']} 429s"
            )
        if self.failures.interrupted_at_restore != self.open_at_kills:
            problems.append(
                "failed at restore != open submissions at the kills: "
                f"{sorted(self.failures.interrupted_at_restore ^ self.open_at_kills)}"
            )
        if len(self.failures.interrupted_by_answer) > audit["ambiguous_submissions"]:
            problems.append(
                f"{len(self.failures.interrupted_by_answer)} ambiguous-answer failures, "
                f"but the simulator answered only {audit['ambiguous_submissions']} ambiguously"
            )
        problems += self._lost_operations()
        if self.store.events_integrity != "ok" or self.store.views_integrity != "ok":
            problems.append(f"integrity: events {self.store.events_integrity}, views {self.store.views_integrity}")
        if self.store.rebuild_differs:
            problems.append(f"the read model differs from a rebuild in {self.store.rebuild_differs}")
        if not self.delivery.exactly_once or self.not_resumed:
            problems.append(f"deltas not delivered exactly once: {self.delivery}, {self.not_resumed} not resumed")
        if self.exit_code != 0:
            problems.append(f"the last veo serve exited with {self.exit_code}")
        return problems

    def _lost_operations(self) -> list[str]:
        """Every operation Flow created is recorded on its generation, unless a kill ate its answer."""
        by_scene = {scene: gid for gid, scene in self.store.scene_of.items()}
        problems = []
        swallowed = self.failures.interrupted_at_restore
        for operation in self.audit["operations"]:
            gid = by_scene.get(operation["scene_id"])
            if gid is None:
                problems.append(f"Flow created {operation['name']} for an unknown scene {operation['scene_id']}")
            elif self.store.operations.get(gid) != operation["name"] and gid not in swallowed:
                problems.append(f"operation {operation['name']} of generation {gid} was never recorded")
        return problems


def open_submissions(data: Path, ids: list[UUID]) -> set[str]:
    """Generations whose last word is `Submitted` (Flow may or may not have them), read from a stopped relay's store."""
    app = locate(data, None).open_app()
    try:
        generations = [app.get_generation(gid) for gid in ids]
        return {str(g.id) for g in generations if g.submission_open and not g.is_terminal}
    finally:
        app.close()


def run_crash(workdir: Path, plan: CrashPlan) -> CrashReport:
    """Run the plan against a fresh data directory under `workdir`; the report (its `problems` filled in)."""
    started = time.monotonic()
    data = workdir / "relay"
    simulator = simulator_process(
        workdir / "simulator", lo=plan.lo, hi=plan.hi, seed=plan.seed, rate=plan.rate, faults=plan.faults
    )
    with simulator as sim:
        flow = ["--flow-url", sim.url, "--labs-url", sim.url, "--rate", str(plan.rate)]
        relay = KillableRelay(data, free_port(), flow)
        try:
            relay.start()
            ids, kills, statuses, watcher = asyncio.run(_drive(relay, plan, random.Random(plan.seed)))
            exit_code = relay.stop()
        finally:
            relay.close()
        audit = sim.audit()
    store = check_store(data, ids)
    report = CrashReport(
        plan=plan,
        ids=ids,
        statuses=statuses,
        in_flight_at_kill=kills,
        restart_seconds=relay.start_seconds[1:],
        elapsed=time.monotonic() - started,
        audit=audit,
        store=store,
        failures=classify_failures(store.rows),
        delivery=delivery(watcher.received, store.journal),
        connections=watcher.connections,
        not_resumed=watcher.not_resumed,
        exit_code=exit_code,
    )
    report.problems = report.check()
    return report


async def _drive(
    relay: KillableRelay, plan: CrashPlan, rng: random.Random
) -> tuple[list[UUID], list[set[str]], Counter[str], DeltaWatcher]:
    watcher = DeltaWatcher(relay.url, relay.token)
    watcher.start()
    try:
        prompts = [f"chaos scene {index}" for index in range(plan.jobs)]
        async with RelayClient(relay.url, relay.token) as client:
            reply = await client.request(BatchGenerate(id=AUTO_ID, prompts=prompts, delay_ms=plan.delay_ms))
        ids = [UUID(gid) for gid in reply["generation_ids"]]
        in_flight: list[set[str]] = []
        for _ in range(plan.kills):
            await asyncio.sleep(rng.uniform(*plan.uptime))
            await asyncio.to_thread(relay.kill)
            in_flight.append(await asyncio.to_thread(open_submissions, relay.data, ids))
            await asyncio.to_thread(relay.start)
        statuses, position = await _until_terminal(relay, ids, plan.finish_timeout)
        await watcher.reached(position, timeout=30.0)
    finally:
        await watcher.stop()
    return ids, in_flight, statuses, watcher


async def _until_terminal(relay: KillableRelay, ids: list[UUID], timeout: float) -> tuple[Counter[str], int]:
    """Poll `get_statuses` until every generation is terminal and every completed one's video is kept (the
    keeper's event comes after Completed: the last event of the run); (statuses, the read model's position then)."""
    deadline = time.monotonic() + timeout
    statuses: Counter[str] = Counter()
    while time.monotonic() < deadline:
        try:
            async with RelayClient(relay.url, relay.token) as client:
                while time.monotonic() < deadline:
                    rows: list[HistoryRow] = []
                    position = 0
                    for start in range(0, len(ids), 1000):
                        result = await client.call(GetStatuses(id=AUTO_ID, generation_ids=ids[start : start + 1000]))
                        rows += convert_data(result.data, list[HistoryRow], "get_statuses")
                        position = result.position
                    statuses = Counter(row.status for row in rows)
                    kept = all(row.video_stored_at is not None for row in rows if row.status == Status.COMPLETED)
                    if sum(statuses[s] for s in TERMINAL_STATUSES) == len(ids) and kept:
                        return statuses, position
                    await asyncio.sleep(0.25)
        except RelayUnavailable:
            await asyncio.sleep(0.25)
    return statuses, 0
