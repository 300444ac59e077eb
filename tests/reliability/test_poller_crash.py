"""PollerActor crashes at random moments during a batch: restarted, restored, nothing lost or sent twice."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.batch_run import BatchPlan, run_batch


def test_a_poller_crashing_repeatedly_during_a_batch_is_restarted_and_every_job_completes(tmp_path: Path) -> None:
    """Each crash is followed by a restart and a restore; answers in flight reach the successor, so no
    submission is failed as interrupted, every job completes, and Flow saw each scene once, within budget."""
    report = run_batch(tmp_path, BatchPlan(jobs=30, crashes=6, seed=3))
    assert report.problems == []
    assert report.restarts == 6
    assert len(report.restore_seconds) == 6
    assert report.statuses["completed"] == 30
    assert all(n == 1 for n in report.audit["generate_calls_per_scene"].values())
