"""kill -9 of the whole relay during a batch, restarted on the same data and port: nothing lost, nothing twice."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.crash import CrashPlan, run_crash


def test_a_relay_killed_three_times_during_a_batch_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    """Every generation ends terminal; Flow got each scene at most once and never over budget; only open
    submissions at a kill fail (interrupted_submission); the read model equals a rebuild; a resuming client
    saw every delta exactly once."""
    report = run_crash(tmp_path, CrashPlan(jobs=40, kills=3, seed=11))
    assert len(report.in_flight_at_kill) == 3
    assert report.connections >= 4  # one before the kills, one after each restart
    assert report.problems == []
    assert report.statuses["completed"] + report.statuses["failed"] == 40
    assert report.statuses["completed"] >= 40 - len(report.open_at_kills)
