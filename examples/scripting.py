"""Drive an in-process relay from Python: one prompt and a batch of three, deltas printed until all are done.

Run it with `python examples/scripting.py`. It starts the whole system (event store, projections,
PollerActor) on a temporary directory, with the built-in Flow simulator making each video in 0.3-1 s.
"""

from __future__ import annotations

import sys
import tempfile

from domain.values import TERMINAL_STATUSES
from projections.rows import BatchRow, HistoryRow
from server.scripting import Relay, RowDelta

PROMPTS = ["a lighthouse in a storm", "a paper boat on a pond", "a kite over the dunes"]
QUIET_LIMIT = 60.0
"""Give up when nothing at all changes for this many seconds."""


def describe(delta: RowDelta) -> str:
    """One line per delta."""
    row = delta.row
    if isinstance(row, BatchRow):
        return (
            f"{delta.position:>4}  batch {row.batch_id[:8]}  {row.completed}/{row.total} completed, {row.failed} failed"
        )
    return f"{delta.position:>4}  job   {row.id[:8]}  {row.status:<10} {row.prompt}"


def main() -> int:
    """Submit, follow, report; exit 1 if any job failed."""
    with tempfile.TemporaryDirectory() as data, Relay.start(data, simulator_times=(0.3, 1.0)) as relay:
        deltas = relay.deltas()  # subscribe before submitting: no change can be missed
        single = relay.submit("a red fox running through fresh snow", priority="high")
        batch = relay.batch(PROMPTS, delay=0.2)
        print(f"submitted {single} and batch {batch.batch_id} ({len(batch.generation_ids)} prompts)")

        finished: dict[str, HistoryRow] = {}
        jobs = {str(single), *map(str, batch.generation_ids)}
        batch_done = False
        while len(finished) < len(jobs) or not batch_done:
            delta = deltas.get(timeout=QUIET_LIMIT)
            if delta is None:
                print(f"nothing happened for {QUIET_LIMIT:g} s; giving up", file=sys.stderr)
                return 1
            print(describe(delta))
            row = delta.row
            if isinstance(row, HistoryRow) and row.id in jobs and row.status in TERMINAL_STATUSES:
                finished[row.id] = row
            if isinstance(row, BatchRow) and row.completed + row.failed + row.cancelled == len(PROMPTS):
                batch_done = True

        print("queue status:", relay.queue_status())
        for job in relay.wait([single, *batch.generation_ids], timeout=5):
            print(f"{job.id} {job.status} {job.video_url or job.error_reason}")
        return 0 if all(row.status == "completed" for row in finished.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
