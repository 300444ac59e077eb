"""Bearer tokens expiring mid-run (401) are refreshed through the session endpoint and polling goes on."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.batch_run import BatchPlan, run_batch
from veo_simulator.api import SESSION_PATH


def test_expired_tokens_are_refreshed_once_each_and_every_job_completes(tmp_path: Path) -> None:
    """Each expiry is followed by one new token from the session cookie; all jobs complete."""
    report = run_batch(tmp_path, BatchPlan(jobs=20, faults={"401": 0.05}, seed=7))
    assert report.problems == []
    audit = report.audit
    assert audit["tokens_expired"] >= 1
    assert audit["sessions_issued"] == audit["tokens_expired"]
    assert audit["requests_by_path"].get(SESSION_PATH, 0) == audit["tokens_expired"]
    assert report.statuses["completed"] == 20
