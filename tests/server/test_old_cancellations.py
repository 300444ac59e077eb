"""A store whose read models were written before `cancelled` existed reads right after a restart, without
`veo rebuild`: the relay rebuilds the outdated views before it serves or restores from them."""

from __future__ import annotations

import time
from pathlib import Path

from server.scripting import Relay

SLOW = (600.0, 600.0)


def test_a_cancellation_recorded_by_an_older_relay_reads_cancelled_after_a_restart(tmp_path: Path) -> None:
    """The old projection left the row `failed` under history schema 3 and analytics schema 1 (written here by
    hand); the next start shows it `cancelled`, counts it so, and does not restore it."""
    with Relay.start(tmp_path, simulator_times=SLOW) as relay:
        job = relay.submit("a cancelled long take")
        relay.cancel(job)
        [cancelled] = relay.wait([job], timeout=20)  # a cancel during the submission ends once Flow answers it
        assert cancelled.status == "cancelled"
        system = relay.system
        with system.db.write() as conn:
            conn.execute(f"UPDATE {system.history.tables[0]} SET status = 'failed' WHERE id = ?", (str(job),))
            conn.execute(f"UPDATE {system.analytics.tables[0]} SET status = 'failed' WHERE id = ?", (str(job),))
            conn.execute(f"UPDATE {system.history.tracking_table} SET schema = 3")
            conn.execute(f"UPDATE {system.analytics.tracking_table} SET schema = 1")
        assert relay.status(job).status == "failed"
    with Relay.start(tmp_path, simulator_times=SLOW) as relay:
        system = relay.system
        row = relay.status(job)
        summary = system.analytics.summary(system.db.reader(), "all", time.time())
        restored = system.history.non_terminal(system.db.reader())
    assert (row.status, row.error_reason) == ("cancelled", "cancelled")
    assert (summary.counts["cancelled"], summary.counts["failed"], summary.failures) == (1, 0, {})
    assert restored == []
