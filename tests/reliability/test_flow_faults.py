"""One Flow answer in five is a fault (5xx, 429 with Retry-After, held, unreadable): nothing transient fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.batch_run import BatchPlan, run_batch

TWENTY_PERCENT = {"500": 0.04, "503": 0.04, "429": 0.04, "timeout": 0.04, "malformed": 0.04}


@pytest.mark.usefixtures("short_pauses")  # a 429 pauses the account: 0.2 s here, 10 s in service
def test_a_fifth_of_flow_answers_faulty_fails_only_ambiguous_submissions_and_keeps_the_budget(tmp_path: Path) -> None:
    """Only submissions Flow answered ambiguously fail (interrupted_submission, never more than the simulator's
    count); every other job completes; neither the relay's own request log nor Flow saw more than R a second."""
    report = run_batch(tmp_path, BatchPlan(jobs=30, faults=TWENTY_PERCENT, seed=5))
    assert report.problems == []
    injected = report.audit["faults_injected"]
    assert sum(injected.values()) >= 5, injected  # the mix really hit the run
    assert report.statuses["completed"] == 30 - len(report.failures.interrupted_by_answer)
    assert len(report.failures.interrupted_by_answer) <= report.audit["ambiguous_submissions"]
