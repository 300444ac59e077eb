"""Several nodes on one PostgreSQL store: wake-ups from the store's notifications, and runners that take turns."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from domain.values import Channel
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from server.store import StoreLocation, locate
from tests.projections.conftest import random_history

pytestmark = pytest.mark.parametrize("backend", ["postgres"])


class Node:
    """One node's application, read model and runner on the shared store."""

    def __init__(self, location: StoreLocation) -> None:
        self.app = location.open_app()
        self.db = location.open_read_model()
        self.runner = ProjectionRunner(self.app, self.db, [HistoryView(), AnalyticsView()], fallback_poll=60.0)
        self.heard: list[int] = []
        self.runner.add_listener(self.heard.append)

    def close(self) -> None:
        self.db.close()
        self.app.close()


@pytest.fixture
def nodes(tmp_path: Path, store: str) -> Iterator[tuple[Node, Node]]:
    location = locate(tmp_path, store)
    first, second = Node(location), Node(location)
    yield first, second
    first.close()
    second.close()


def snapshot(db: ReadModelDatabase) -> dict[str, list[Any]]:
    """Every table's rows; the journal as its deltas (its pages are cut where each run's pages were)."""
    conn = db.reader()
    tables = ["veo3_video_generations", "veo3_batches", "analytics_jobs"]
    found: dict[str, list[Any]] = {
        t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()] for t in tables
    }
    found["journal"] = HistoryView().deltas_after(conn, 0, 10**9)
    return found


def test_a_save_on_one_node_wakes_the_other_nodes_listener(tmp_path: Path, store: str) -> None:
    """The recorder NOTIFYs in its insert transaction; another node's listener hears it after the commit."""
    from projections.postgres import StoreListener  # noqa: PLC0415 - imports psycopg

    location = locate(tmp_path, store)
    assert location.postgres is not None
    writer = location.open_app()
    woken = threading.Event()
    listener = StoreListener(location.postgres.conninfo(), "veorelay_events", woken.set)
    listener.start()
    try:
        assert listener.listening.wait(10)
        woken.clear()
        writer.request_generation(GenerationSpec(prompt="from elsewhere"))
        assert woken.wait(10)
    finally:
        listener.stop()
        writer.close()


def test_a_listener_whose_connection_is_killed_reconnects_and_wakes(tmp_path: Path, store: str) -> None:
    """After the server drops its session, the listener reconnects and wakes once for what it may have missed."""
    import psycopg  # noqa: PLC0415

    from projections.postgres import StoreListener  # noqa: PLC0415

    location = locate(tmp_path, store)
    assert location.postgres is not None
    woken = threading.Event()
    listener = StoreListener(location.postgres.conninfo(), "veorelay_events", woken.set, retry_s=0.05)
    listener.start()
    try:
        assert listener.listening.wait(10)
        woken.clear()
        with psycopg.connect(**location.postgres.conninfo(), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
            ).fetchone()
        assert killed == (1,)
        assert woken.wait(10)
        assert listener.listening.wait(10)
    finally:
        listener.stop()


def test_runners_on_two_nodes_apply_each_event_once_and_both_report_the_position(
    nodes: tuple[Node, Node],
) -> None:
    """Concurrent catch-ups take turns; the read model equals a rebuild; each runner tells its listeners."""
    first, second = nodes
    writer: VeoRelay = first.app
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_catching_up(node: Node) -> None:
        try:
            while not stop.is_set():
                node.runner.catch_up()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=keep_catching_up, args=(node,)) for node in (first, second)]
    for thread in threads:
        thread.start()
    try:
        random_history(writer, random.Random(4), 120)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    first.runner.catch_up()
    second.runner.catch_up()
    head = writer.last_position()
    assert first.heard[-1] == second.heard[-1] == head
    live = snapshot(first.db)
    generation_deltas = [d.position for d in live["journal"] if d.channel != Channel.BATCH_PROGRESS]
    assert generation_deltas == list(range(1, head + 1))
    rebuild(writer, first.db, [HistoryView, AnalyticsView])
    assert snapshot(second.db) == live
