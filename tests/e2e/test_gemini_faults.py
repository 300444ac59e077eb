"""A Gemini API profile against a misbehaving Gemini API, end to end: the real server, the simulator's Gemini mode
with its fault mix on every /v1beta/ call (submissions, operation checks, file downloads).

Every job ends: completed, or failed `interrupted_submission` exactly for the submissions the API created and
then answered ambiguously; no generation's predictLongRunning created two operations; every kept video is the
simulator's bytes. Two last jobs, every answer a 500 or unreadable, make sure the run has such answers. A 429 is
not in the mix: the relay takes any 429 short of a daily quota as the key's per-minute quota, holds the key until
its minute allows and learns a lower limit (tests/actors/test_poller_gemini.py), which would stretch this run to
minutes."""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest

from actors.video_keeper import KeeperSettings, VideoKeeper
from domain.values import ErrorReason
from projections.rows import HistoryRow
from server import bootstrap
from server.bootstrap import Settings
from tests.e2e.harness import run, serving, videos_kept, wait_until
from veo_protocol import Generate
from veo_simulator import Simulator, SimulatorConfig
from veo_simulator.admin import video_bytes

logger = logging.getLogger(__name__)

KEY = "AIzaSyE2E-gemini-faults-key-0123456789"
JOBS = 12
VIDEO_SIZE = 2048
MIX = {"500": 0.08, "503": 0.1, "timeout": 0.08, "malformed": 0.08, "401": 0.07, "slow": 0.1}
"""About a third of the API's answers faulty; 401 is in the mix to show it never reaches a key."""
AMBIGUOUS_ANSWERS = ("500", "malformed")
"""Ambiguous answers the relay cannot read (the `timeout` hold, 0.3 s, ends before its 10 s read timeout)."""


@pytest.fixture
def quick_keeper(monkeypatch: pytest.MonkeyPatch) -> None:
    """The VideoKeeper retries a failed download after 0.05 s, 0.1 s, ... (5 s, 10 s, ... in service)."""
    quick = KeeperSettings(attempts=8, first_delay=0.05, max_delay=0.5)
    monkeypatch.setattr(bootstrap, "VideoKeeper", functools.partial(VideoKeeper, settings=quick))


@pytest.mark.usefixtures("quick_keeper")
def test_every_gemini_job_ends_as_its_answers_prove_under_a_fault_mix(tmp_path: Path) -> None:
    simulator = Simulator(
        SimulatorConfig(
            lo=0.3,
            hi=0.6,
            seed=7,
            rate=20,
            faults=MIX,
            timeout_s=0.3,
            video_size=VIDEO_SIZE,
            gemini_keys=(KEY,),
            gemini_rpm=0,
        )
    )
    simulator.start()
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'[profiles.gem]\nbackend = "gemini"\napi_key = "{KEY}"\nbase_url = "{simulator.url}"\n')
    profiles.chmod(0o600)
    settings = Settings(data_dir=tmp_path / "data", port=0, profiles=profiles, rate=20, gemini_first_check=0.2)

    async def scenario() -> list[HistoryRow]:
        async with serving(settings) as target:
            peer = await target.connect()
            history, reader = target.system.history, target.system.db.reader()

            async def generations(count: int) -> list[str]:
                """`count` jobs on the Gemini profile, once every one has ended and its video is kept."""
                ids: list[str] = []
                for _ in range(count):
                    reply = await peer.ok(Generate, prompt=f"a heron, take {len(ids)}", profile_id="gem")
                    ids.append(str(reply.data["generation_id"]))

                def ended() -> bool:
                    rows = history.get_many(reader, ids)
                    return len(rows) == count and all(row.status in ("completed", "failed") for row in rows)

                await wait_until(ended, 60, "every job to end")
                await videos_kept(
                    target, *(row.id for row in history.get_many(reader, ids) if row.status == "completed")
                )
                return ids

            ids = await generations(JOBS)
            simulator.set_faults(dict.fromkeys(AMBIGUOUS_ANSWERS, 1 / len(AMBIGUOUS_ANSWERS)))  # every answer
            ids += await generations(2)
            await target.settled()
            rows = history.get_many(reader, ids)
            await peer.close()
            return rows

    try:
        rows = run(scenario())
    finally:
        simulator.stop()
    audit = simulator.audit()
    report(rows, audit)
    check(rows, audit)


def report(rows: list[HistoryRow], audit: dict[str, Any]) -> None:
    """The run's figures, in the log."""
    (key,) = audit["gemini"]["keys"].values()
    statuses = {status: sum(row.status == status for row in rows) for status in ("completed", "failed")}
    logger.info(
        "statuses %s; faults injected %s; ambiguous answers %d; predict calls %d, checks %d, downloads %d",
        statuses,
        audit["faults_injected"],
        audit["ambiguous_submissions"],
        key["predict_calls"],
        key["operation_checks"],
        key["downloads"],
    )


def check(rows: list[HistoryRow], audit: dict[str, Any]) -> None:
    """The promises, against the simulator's audit."""
    operations = {op["name"]: op for op in audit["gemini"]["operations"]}
    completed = [row for row in rows if row.status == "completed"]
    failed = [row for row in rows if row.status == "failed"]
    assert {row.error_reason for row in failed} <= {ErrorReason.INTERRUPTED_SUBMISSION}, [
        (row.error_reason, row.error_message) for row in failed
    ]
    # One operation per generation: each completed row names its own; the rest are the unreadable answers.
    named = [row.operation_name for row in completed]
    assert len(set(named)) == len(named) and set(named) <= set(operations)
    unrecorded = [op for name, op in operations.items() if name not in named]
    assert len(operations) == len(rows), f"{len(operations)} operations for {len(rows)} generations"
    assert all(op["ambiguous"] in AMBIGUOUS_ANSWERS for op in unrecorded), unrecorded
    assert len(failed) == len(unrecorded) == sum(op["ambiguous"] in AMBIGUOUS_ANSWERS for op in operations.values())
    assert len(failed) >= 2
    # Kept videos are the simulator's bytes.
    for row in completed:
        (file_id,) = operations[row.operation_name]["files"]
        assert row.video_sha256 == hashlib.sha256(video_bytes(file_id, VIDEO_SIZE)).hexdigest(), row.id
        assert row.video_bytes == VIDEO_SIZE
    assert "401" not in audit["faults_injected"]
    assert sum(audit["faults_injected"].values()) >= 5, audit["faults_injected"]
