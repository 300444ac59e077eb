"""Two `veo serve` nodes on one PostgreSQL store and one Flow (a `veo simulator` process): the leader is
killed with SIGKILL mid-batch, and the other node takes over."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from uuid import UUID

import pytest

from projections.history import HistoryView
from server.store import locate
from tests.e2e.harness import Peer, batch_finished, run
from tests.reliability.processes import KillableRelay, free_port, simulator_process
from veo_protocol import BatchGenerate, Subscribe

CHANNELS = ["generation:status", "batch:progress"]
JOBS = 16


def leader(url: str) -> str | None:
    """The node that leads (host:pid:port; past its takeover grace, so sending), or None."""
    import psycopg  # noqa: PLC0415 - only where PostgreSQL runs

    with psycopg.connect(url) as conn:
        try:
            row = conn.execute("SELECT node FROM veo_leader WHERE elected IS NOT NULL").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return str(row[0]) if row else None


def wait_until(condition: object, timeout: float, what: str) -> float:
    """Poll `condition()` every 20 ms; the seconds it took."""
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - began


def open_submissions(store: str, data: Path, ids: list[UUID], at: int) -> set[UUID]:
    """Generations whose last Submitted at or before position `at` had no Started by then."""
    app = locate(data, store).open_app()
    try:
        kinds: dict[UUID, list[str]] = {i: [] for i in ids}
        for n in app.recorder.select_notifications(start=1, limit=1_000_000, stop=at):
            if n.originator_id in kinds:
                kinds[UUID(str(n.originator_id))].append(n.topic.rsplit(".", 1)[-1])
        return {i for i, seen in kinds.items() if "Submitted" in seen and "Started" not in seen}
    finally:
        app.close()


def journal_keys(store: str, data: Path, after: int) -> list[tuple[int, str]]:
    """(position, channel) of every journal delta after `after`."""
    db = locate(data, store).open_read_model()
    try:
        return [(d.position, d.channel) for d in HistoryView().deltas_after(db.reader(), after, 1_000_000)]
    finally:
        db.close()


@pytest.mark.timeout(180)
def test_killing_the_leader_mid_batch_hands_over_within_five_seconds_and_loses_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    """The follower leads within 5 s of the kill; every job ends terminal; Flow saw each scene at most once
    and never more than R calls in a second; only submissions open at the kill fail (interrupted); the
    client connected to the follower got every delta exactly once, in journal order."""
    with simulator_process(tmp_path / "sim", lo=1.0, hi=2.5, seed=6) as simulator:
        # --keep-videos no: the keeper's events after each Completed would reach the journal after the batch
        # finished and the client left, and the client's deltas are compared with the journal
        args = ["--store", postgres_url, "--flow-url", simulator.url, "--labs-url", simulator.url]
        args += ["--keep-videos", "no"]
        first = KillableRelay(tmp_path / "a", free_port(), args)
        second = KillableRelay(tmp_path / "b", free_port(), args)
        try:
            first.start()
            wait_until(lambda: (leader(postgres_url) or "").endswith(f":{first.port}"), 15, "the first node to lead")
            second.start()

            async def scenario() -> tuple[list[UUID], int, float, int, Peer]:
                url = second.url.replace("http", "ws", 1) + "/ws"
                peer = await Peer.connect(url, additional_headers={"Authorization": f"Bearer {second.token}"})
                start = (await peer.ok(Subscribe, channels=CHANNELS)).position
                reply = await peer.ok(BatchGenerate, prompts=[f"scene {i}" for i in range(JOBS)], delay_ms=100)
                ids = [UUID(i) for i in reply.data["generation_ids"]]
                await peer.until(lambda: sum(1 for d in peer.deltas if d.data.get("operation_name")) >= 4, 30, "starts")
                first.kill()
                killed_at = time.monotonic()
                at = await asyncio.to_thread(_store_position, postgres_url, tmp_path)
                await asyncio.to_thread(
                    wait_until, lambda: (leader(postgres_url) or "").endswith(f":{second.port}"), 10, "the takeover"
                )
                takeover = time.monotonic() - killed_at

                def done() -> bool:
                    rows = [d.data for d in peer.deltas if d.channel == "batch:progress"]
                    return bool(rows) and batch_finished(rows[-1]) == JOBS

                await peer.until(done, 90, "the batch to finish after the takeover")
                await peer.close()
                return ids, at, takeover, start, peer

            ids, at, takeover, start, peer = run(scenario(), timeout=150)
            audit = simulator.audit()
        finally:
            first.close()
            second.close()
    final = {d.data["id"]: d.data for d in peer.deltas if d.channel == "generation:status"}
    failed = {UUID(i): row["error_reason"] for i, row in final.items() if row["status"] == "failed"}
    assert takeover < 5.0
    assert set(final) == {str(i) for i in ids}
    assert all(row["status"] in ("completed", "failed") for row in final.values())
    assert set(failed.values()) <= {"interrupted_submission"}
    assert set(failed) <= open_submissions(postgres_url, tmp_path, ids, at)
    assert audit["duplicate_scene_ids"] == []
    assert audit["max_in_any_1s_window"] <= 10
    assert [(d.position, d.channel) for d in peer.deltas] == journal_keys(postgres_url, tmp_path, start)


def _store_position(store: str, data: Path) -> int:
    app = locate(data, store).open_app()
    try:
        return app.last_position()
    finally:
        app.close()
