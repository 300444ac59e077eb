"""`get_status` on SQLite reads in place, on the event loop, without waiting for a lock; a read that finds
the file locked, and every other request, goes to a pool, so long reads and commands never hold it up."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from domain.requests import GenerationSpec
from projections.database import Connection, SQLiteReadModel
from tests.e2e.harness import relay, run
from tests.locks import lock_error
from veo_protocol import ErrorCode, ErrorReply, GetStatus


def test_get_status_is_answered_while_the_shared_pool_is_busy(tmp_path: Path) -> None:
    """Every thread of the loop's shared pool is blocked: a get_status still gets its row."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            made, _ = target.system.app.request_generation(GenerationSpec(prompt="a lighthouse"))
            await target.settled()
            peer = await target.connect()
            release = threading.Event()
            blockers = [asyncio.create_task(asyncio.to_thread(release.wait, 30)) for _ in range(40)]
            try:
                answer = await asyncio.wait_for(peer.ok(GetStatus, generation_id=str(made)), 5.0)
                assert answer.data["id"] == str(made)
                assert not any(b.done() for b in blockers)  # the shared pool was still held throughout
            finally:
                release.set()
                await asyncio.gather(*blockers)
                await peer.close()

    run(scenario())


def test_get_status_on_sqlite_reads_on_the_loop_needing_no_thread(tmp_path: Path) -> None:
    """With the point-read pool blocked too, get_status still answers: on SQLite it reads in place."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            made, _ = target.system.app.request_generation(GenerationSpec(prompt="a lighthouse"))
            await target.settled()
            peer = await target.connect()
            pool = target.server.handlers._point_reads
            release = threading.Event()
            held = [pool.submit(release.wait, 30) for _ in range(8)]
            try:
                answer = await asyncio.wait_for(peer.ok(GetStatus, generation_id=str(made)), 5.0)
                assert answer.data["prompt"] == "a lighthouse"
                assert not any(h.done() for h in held)
            finally:
                release.set()
                await peer.close()

    run(scenario())


def test_a_locked_file_sends_get_status_to_the_pool_which_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read in place that finds the file locked is not retried on the loop: the pool reads (waiting if need
    be) and the reply carries the row; a read error of another kind is reported, not retried."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            made, _ = target.system.app.request_generation(GenerationSpec(prompt="a lighthouse"))
            await target.settled()
            db = target.system.db
            assert isinstance(db, SQLiteReadModel)
            locked = lock_error(Path(db.path))
            assert db.busy(locked)
            original = db.read
            waits: list[bool] = []

            def read(*, wait: bool = True) -> AbstractContextManager[Connection]:
                waits.append(wait)
                if not wait:
                    raise locked
                return original(wait=wait)

            monkeypatch.setattr(db, "read", read)
            peer = await target.connect()
            try:
                answer = await asyncio.wait_for(peer.ok(GetStatus, generation_id=str(made)), 5.0)
                assert answer.data["prompt"] == "a lighthouse"
                assert waits == [False, True]
            finally:
                await peer.close()

    run(scenario())


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (sqlite3.DatabaseError("disk I/O error"), "the store cannot be used right now (disk I/O error)"),
        (RuntimeError("a bug"), "the server failed to handle this request"),
    ],
)
def test_a_read_in_place_that_fails_is_answered_with_internal_and_the_connection_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception, words: str
) -> None:
    """A storage fault or a bug during a read in place: an `internal` error for that request, then service."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            made, _ = target.system.app.request_generation(GenerationSpec(prompt="a lighthouse"))
            await target.settled()
            history = target.system.history
            original = history.get

            def get(conn: Connection, generation_id: str) -> object:
                monkeypatch.setattr(history, "get", original)  # fails once
                raise failure

            monkeypatch.setattr(history, "get", get)
            peer = await target.connect()
            try:
                reply = await peer.request(GetStatus, generation_id=str(made))
                assert isinstance(reply, ErrorReply)
                assert (reply.code, reply.id) == (ErrorCode.INTERNAL, "r1")
                assert words in reply.message
                answer = await peer.ok(GetStatus, generation_id=str(made))
                assert answer.data["prompt"] == "a lighthouse"
            finally:
                await peer.close()

    run(scenario())
