"""One benchmark run each: our System, or the seed's worker, polling N running jobs on a fresh simulator.

Each run gets its own simulator (seeded alike) and store. The jobs are made by `create_operations` with
completion instants now + the scenario's offsets, and recorded as started generations before polling
begins; a run ends when every job is recorded terminal (or after `Scenario.timeout`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from detection import RunFigures, completed_instants, figures
from seed_baseline import SeedJob, SeedWorker
from seeding import ACTIVE, record_running, seed_running_jobs

from actors.flow import FlowClient, StatusHandle
from actors.profiles import Profile
from server.bootstrap import Settings, System
from server.store import locate
from veo_simulator import Simulator, SimulatorConfig

__all__ = [
    "OURS_NAMES",
    "PACED_SEED_NAME",
    "SEED_NAME",
    "ContractChoice",
    "Scenario",
    "run_ours",
    "run_seed",
]

logger = logging.getLogger(__name__)

PROFILE = "default"
PROJECT = "bench-project"
BEARER = "ya29.bench-simulator"
COOKIE = "bench-session"  # the labs URL look-up needs a session cookie; the simulator accepts any
ContractChoice = Literal["auto", "operations", "media"]
OURS_NAMES: dict[ContractChoice, str] = {
    "auto": "ours, auto (operations first, media on a 400)",
    "media": "ours, media + URL look-up",
    "operations": "ours, operations (URL inline)",
}
SEED_NAME = "seed (1 op/request, x1.5 backoff)"
PACED_SEED_NAME = "seed policy, paced like ours"


@dataclass(frozen=True)
class Scenario:
    """One benchmark case: N jobs and their completion offsets, the budget and the batch size."""

    n: int
    lo: float
    hi: float
    seed: int
    rate: float
    batch: int
    offsets: list[float]

    @property
    def timeout(self) -> float:
        """How long a run may go on (at N=1000 the seed needs ~200 s past the last completion)."""
        return self.hi + 360.0


def start_simulator(scenario: Scenario) -> Simulator:
    """A fresh simulator enforcing R, seeded like every other run of this scenario."""
    simulator = Simulator(
        SimulatorConfig(port=0, rate=scenario.rate, lo=scenario.lo, hi=scenario.hi, seed=scenario.seed)
    )
    simulator.start()
    return simulator


def running_operations(simulator: Simulator, scenario: Scenario) -> list[dict[str, Any]]:
    """N running operations completing at now + each offset."""
    now = time.time()
    return simulator.create_operations(scenario.n, [now + offset for offset in scenario.offsets])


def write_profiles(directory: Path, contract: ContractChoice) -> Path:
    """A profiles file naming the simulator's stand-in credentials (mode 600, so no warning)."""
    path = directory / "profiles.toml"
    text = f'[profiles.{PROFILE}]\nproject_id = "{PROJECT}"\nbearer_token = "{BEARER}"\n'
    text += f'session_cookie = "{COOKIE}"\n'
    text += f'status_contract = "{contract}"\n'
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def run_ours(scenario: Scenario, directory: Path, contract: ContractChoice = "auto") -> RunFigures:
    """The System (PollerActor + CheckScheduler) on a store seeded with the running jobs."""
    data_dir = directory / f"ours-{contract}"
    data_dir.mkdir()
    simulator = start_simulator(scenario)
    try:
        operations = running_operations(simulator, scenario)
        ids = seed_running_jobs(data_dir, operations, PROFILE)
        settings = Settings(
            data_dir=data_dir,
            profiles=write_profiles(data_dir, contract),
            flow_url=simulator.url,
            labs_url=simulator.url,
            rate=scenario.rate,
            check_batch=scenario.batch,
        )
        system = System(settings)
        try:
            system.start()

            def finished() -> bool:
                counts = system.history.counts(system.db.reader())
                return counts.get("completed", 0) + counts.get("failed", 0) >= scenario.n

            if not wait_until(finished, scenario.timeout):
                logger.warning("ours: not every job was detected within %.0f s", scenario.timeout)
            recorded = completed_instants(system.app)
        finally:
            system.stop()
        audit = simulator.audit()
    finally:
        simulator.stop()
    complete_at = {gid: float(op["complete_at"]) for gid, op in zip(ids, operations, strict=True)}
    names = {gid: str(op["name"]) for gid, op in zip(ids, operations, strict=True)}
    return figures(OURS_NAMES[contract], scenario.rate, complete_at, names, recorded, audit)


def run_seed(scenario: Scenario, directory: Path, *, paced: bool = False) -> RunFigures:
    """The seed's worker on its own simulator and store, facing the same completion offsets."""
    data_dir = directory / ("seed-paced" if paced else "seed")
    data_dir.mkdir()
    simulator = start_simulator(scenario)
    http = httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), limits=httpx.Limits(max_connections=20))
    app = locate(data_dir, None).open_app()
    try:
        operations = running_operations(simulator, scenario)
        ids = record_running(app, operations, PROFILE)
        profile = Profile(
            name=PROFILE, project_id=PROJECT, bearer_token=BEARER, session_cookie=COOKIE, status_contract="operations"
        )
        jobs = [
            SeedJob(gid, StatusHandle(operation_name=op["name"], media_name=op["media_name"], status=ACTIVE))
            for gid, op in zip(ids, operations, strict=True)
        ]
        client = FlowClient(http, flow_url=simulator.url, labs_url=simulator.url)
        worker = SeedWorker(app, client, profile, jobs, contract="operations", paced=paced)
        if not worker.run(scenario.timeout):
            logger.warning("seed: not every job was detected within %.0f s", scenario.timeout)
        recorded = completed_instants(app)
        audit = simulator.audit()
    finally:
        app.close()
        http.close()
        simulator.stop()
    complete_at = {gid: float(op["complete_at"]) for gid, op in zip(ids, operations, strict=True)}
    names = {gid: str(op["name"]) for gid, op in zip(ids, operations, strict=True)}
    return figures(PACED_SEED_NAME if paced else SEED_NAME, scenario.rate, complete_at, names, recorded, audit)
