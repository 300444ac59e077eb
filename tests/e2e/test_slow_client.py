"""Who is closed with 1013: a client that stops reading (it can resume), never one that keeps reading."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from domain.requests import GenerationSpec
from server import client as client_module
from tests.e2e.harness import TOKEN, caught_up, delivered, keys, relay, run, wait_until
from veo_protocol import Generate, Subscribe

CHANNELS = ["generation:status", "batch:progress"]
# RelayServer takes no per-client queue limits, so the slow client must overflow the defaults (20,000
# frames, 16 MiB): 8 rounds of 500 requests with 9,000-character prompts make about 40 MB of deltas.
ROUNDS = 8
PER_ROUND = 500
PADDING = "x" * 9_000


def test_a_client_that_stops_reading_is_closed_with_1013_while_another_keeps_receiving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stalled client gets 1013 after a clean prefix of the stream; resuming after it completes it."""
    # The stalled client reads again only after the last round, however long the rounds after its drop take: the
    # server must not give up on delivering the close frame meanwhile (that abort is test_client_writes' subject).
    monkeypatch.setattr(client_module, "CLOSE_TIMEOUT", 60.0)

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            fast = await target.connect()
            await fast.ok(Subscribe, channels=CHANNELS)
            others = set(target.server.clients)
            slow = await target.connect(max_queue=1)
            await slow.ok(Subscribe, channels=CHANNELS)
            (slow_on_server,) = target.server.clients - others
            slow.pause_reading()
            head = 0
            for round_ in range(ROUNDS):  # the reading client catches up after each round of about 5 MB
                specs = [GenerationSpec(prompt=f"{round_}.{i} {PADDING}") for i in range(PER_ROUND)]
                await asyncio.to_thread(target.system.app.request_batch, specs)
                head = await caught_up(target, fast)
            assert len(fast.deltas) == 2 * ROUNDS * PER_ROUND
            # Its server side, not `server.clients`: once its close times out, the dropped client leaves that set.
            await wait_until(lambda: slow_on_server.closing, what="the slow client's drop")
            slow.resume_reading()
            assert await slow.closed_with() == 1013
            assert not fast.closed
            assert 0 < len(slow.deltas) < len(fast.deltas)
            assert keys(slow.deltas) == keys(fast.deltas)[: len(slow.deltas)]
            again = await target.connect()
            answer = await again.ok(Subscribe, channels=CHANNELS, after=slow.last_position)
            assert answer.data["resumed"] is True
            await delivered(again, head)
            assert keys(slow.deltas + again.deltas) == keys(fast.deltas)
            later = await fast.ok(Generate, prompt="still flowing")
            later_id = later.data["generation_id"]
            await fast.until(lambda: fast.deltas[-1].data.get("id") == later_id, what="a later delta")
            await again.close()
            await fast.close()

    run(scenario())


class _Frame(msgspec.Struct):
    """Just enough of a server frame to count deltas."""

    type: str
    deltas: list[Any] = []


class ThreadedReader:
    """A client in its own thread, not sharing the server's event loop, that counts deltas until it has enough."""

    def __init__(self, url: str, subscribe: dict[str, object], wanted: int, pause: float = 0.0) -> None:
        self.url = url
        self.subscribe = msgspec.json.encode({"type": "subscribe", "id": "s", **subscribe})
        self.wanted = wanted
        self.pause = pause
        self.subscribed = threading.Event()
        self.count = 0
        self.close_code: int | None = None
        self._thread = threading.Thread(target=self._run, name="threaded-reader")

    async def __aenter__(self) -> ThreadedReader:
        self._thread.start()
        assert await asyncio.to_thread(self.subscribed.wait, 10), "no subscribe result"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self._thread.join, 60)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        decoder = msgspec.json.Decoder(_Frame)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with connect(self.url, additional_headers=headers, proxy=None, compression=None, max_size=None) as ws:
            ws.send(self.subscribe, text=True)
            assert decoder.decode(ws.recv(timeout=10, decode=False)).type == "result"
            self.subscribed.set()
            try:
                while self.count < self.wanted:
                    frame = decoder.decode(ws.recv(timeout=30, decode=False))
                    self.count += len(frame.deltas) if frame.type == "deltas" else 1
                    time.sleep(self.pause)
            except ConnectionClosed as exc:
                self.close_code = exc.rcvd.code if exc.rcvd is not None else None


def test_a_burst_of_large_rows_reaches_a_client_that_keeps_reading(tmp_path: Path) -> None:
    """1,000 rows of about 20 KB recorded at once (more than a client may have queued) all arrive; no 1013."""
    long_prompt = "é" * 9_990  # two UTF-8 bytes a character
    requests = 1_000

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            async with ThreadedReader(target.ws_url, {"channels": ["generation:status"]}, requests) as reader:
                specs = [GenerationSpec(prompt=f"{i} {long_prompt}") for i in range(requests)]
                await asyncio.to_thread(target.system.app.request_batch, specs)
            assert (reader.count, reader.close_code) == (requests, None)

    run(scenario())


def test_a_client_resuming_after_a_backlog_larger_than_its_queue_limit_gets_all_of_it(tmp_path: Path) -> None:
    """About 30 MB of missed deltas are replayed at the pace of a client that reads steadily, without 1013."""
    requests = 3_000

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            specs = [GenerationSpec(prompt=f"{i} {PADDING}") for i in range(requests)]
            await asyncio.to_thread(target.system.app.request_batch, specs)
            await target.settled()
            subscribe = {"channels": CHANNELS, "after": 0}
            async with ThreadedReader(target.ws_url, subscribe, 2 * requests, pause=0.01) as reader:
                pass
            assert (reader.count, reader.close_code) == (2 * requests, None)

    run(scenario())
