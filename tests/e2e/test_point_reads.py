"""`get_status` reads in a small pool of its own, so long reads and commands in the shared pool never hold it up;
a read that fails is answered with an error and the connection goes on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from domain.requests import GenerationSpec
from projections.database import Connection
from tests.e2e.harness import relay, run
from veo_protocol import ErrorCode, ErrorReply, GetStatus


def test_get_status_is_answered_while_the_shared_pool_is_busy(tmp_path: Path) -> None:
    """Every thread of the loop's shared pool is blocked: a get_status still gets its row."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            made, _ = target.system.app.request_generation(GenerationSpec(prompt="a lighthouse"))
            await target.settled()
            peer = await target.connect()
            release = threading.Event()
            blockers = [asyncio.create_task(asyncio.to_thread(release.wait, 60)) for _ in range(40)]
            try:  # well within the blockers' hold, generous for a loaded machine
                answer = await asyncio.wait_for(peer.ok(GetStatus, generation_id=str(made)), 20.0)
                assert answer.data["id"] == str(made)
                assert not any(b.done() for b in blockers)  # the shared pool was still held throughout
            finally:
                release.set()
                await asyncio.gather(*blockers)
                await peer.close()

    run(scenario())


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (sqlite3.DatabaseError("disk I/O error"), "the store cannot be used right now (disk I/O error)"),
        (RuntimeError("a bug"), "the server failed to handle this request"),
    ],
)
def test_a_point_read_that_fails_is_answered_with_internal_and_the_connection_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception, words: str
) -> None:
    """A storage fault or a bug during a `get_status` read: an `internal` error for that request, then service."""

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
