"""A live relay for end-to-end tests: a real System and RelayServer on a loopback port, and a test client.

`relay()` starts both inside the test's event loop (tests are sync and call `run(...)`, which is
`asyncio.run` with a time limit: pytest-asyncio is not used); `relay_in_thread()` serves the same
from an event loop in its own thread, for synchronous clients (hypothesis). `Peer` speaks the websocket
protocol with `websockets.asyncio.client`: it awaits replies by id and records every delta frame as it
arrived. `journal()` reads the delta journal directly, the reference a client's deltas are compared with.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from projections.history import Delta
from server.bootstrap import Settings, System
from server.relay_server import RelayServer
from veo_protocol import (
    DeltaMessage,
    DeltasMessage,
    ErrorReply,
    Request,
    Result,
    decode_server_message,
    encode_request,
)
from veo_simulator import SimulatorConfig

__all__ = [
    "FAST_JOBS",
    "TOKEN",
    "Peer",
    "Relay",
    "caught_up",
    "delivered",
    "journal",
    "keys",
    "relay",
    "relay_in_thread",
    "run",
    "serving",
    "videos_kept",
    "wait_until",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=Request)
TOKEN = "e2e-test-token"
FAST_JOBS = SimulatorConfig(lo=0.3, hi=0.8, seed=1)
REPLY_TIMEOUT = 15.0
SETTLE_TIMEOUT = 60.0
"""How long the read model may take to apply what is recorded: a few thousand large rows on a loaded machine."""


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 90.0) -> T:
    """Run an async test body to completion (failing it after `timeout` seconds)."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def batch_finished(batch: dict[str, Any]) -> int:
    """How many items of a `batch:progress` row are terminal (completed, failed or cancelled)."""
    return int(batch["completed"] + batch["failed"] + batch["cancelled"])


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll an observable condition until it holds (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def videos_kept(target: Relay, *generation_ids: str) -> None:
    """Wait until the relay has kept (or given up) the videos of these completed generations: their last event."""
    app = target.system.app
    await wait_until(
        lambda: all(app.get_generation(UUID(i)).video_settled for i in generation_ids), 60, "the videos to be kept"
    )


@dataclass
class Relay:
    """A started System and the RelayServer in front of it."""

    system: System
    server: RelayServer
    token: str

    @property
    def ws_url(self) -> str:
        """The websocket endpoint, without credentials."""
        return f"ws://127.0.0.1:{self.server.port}/ws"

    @property
    def http_url(self) -> str:
        """The HTTP base URL."""
        return f"http://127.0.0.1:{self.server.port}"

    def store_position(self) -> int:
        """The event store's last notification id."""
        return self.system.app.last_position()

    async def settled(self) -> int:
        """Wait until the read model has applied everything recorded; the journal's last position then."""
        position = self.store_position()
        applied = await asyncio.to_thread(self.system.projections.wait_for, position, SETTLE_TIMEOUT)
        assert applied, "the projection did not catch up"
        return position

    async def connect(self, **options: Any) -> Peer:
        """A client authenticated with the bearer token."""
        return await Peer.connect(self.ws_url, additional_headers={"Authorization": f"Bearer {self.token}"}, **options)


@asynccontextmanager
async def relay(
    tmp_path: Path,
    *,
    token: str = TOKEN,
    simulator: SimulatorConfig = FAST_JOBS,
    lost_after: float = 600.0,
    keep_videos: bool = True,
    profiles: Path | None = None,
    flow_url: str | None = None,
    **server_options: Any,
) -> AsyncIterator[Relay]:
    """A System with the built-in simulator (fast jobs), or the profiles file's accounts on the Flow at
    `flow_url`, and a RelayServer on an ephemeral loopback port."""
    settings = Settings(
        data_dir=tmp_path,
        port=0,
        simulator=simulator,
        lost_after=lost_after,
        keep_videos=keep_videos,
        profiles=profiles,
        flow_url=flow_url,
        labs_url=flow_url,
    )
    async with serving(settings, token=token, **server_options) as target:
        yield target


@asynccontextmanager
async def serving(settings: Settings, *, token: str = TOKEN, **server_options: Any) -> AsyncIterator[Relay]:
    """A System started with `settings` and a RelayServer in front of it on an ephemeral loopback port."""
    system = System(settings)
    try:
        await asyncio.to_thread(system.start)
        server = RelayServer(system, port=0, token=token, **server_options)
        await server.start()
        try:
            yield Relay(system, server, token)
        finally:
            await server.stop()
    finally:
        await asyncio.to_thread(system.stop)


@contextmanager
def relay_in_thread(tmp_path: Path, **options: Any) -> Iterator[Relay]:
    """The same live relay, served by an event loop in its own thread (for synchronous clients)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="relay-loop", daemon=True)
    thread.start()
    manager = relay(tmp_path, **options)
    try:
        target = asyncio.run_coroutine_threadsafe(manager.__aenter__(), loop).result(30)
        try:
            yield target
        finally:
            asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def journal(target: Relay, after: int, channels: set[str] | None = None) -> list[Delta]:
    """Every journal delta after `after` (optionally only some channels), read straight from the read model."""
    system = target.system
    deltas = system.history.deltas_after(system.db.reader(), after, 1_000_000)
    return [d for d in deltas if channels is None or d.channel in channels]


def keys(deltas: list[DeltaMessage]) -> list[tuple[int, str]]:
    """What identifies a delta: its position and channel."""
    return [(d.position, d.channel) for d in deltas]


async def caught_up(target: Relay, *peers: Peer) -> int:
    """Wait until the read model has everything recorded and each peer has the journal's last delta; its position."""
    await target.settled()
    last = journal(target, 0)[-1].position
    for peer in peers:
        await delivered(peer, last)
    return last


async def delivered(peer: Peer, position: int) -> None:
    """Wait until the peer's last delta is at `position`."""
    await peer.until(lambda: peer.last_position == position, what=f"delivery up to {position}")


class Peer:
    """A protocol client: requests answered by id, and every delta frame kept in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[list[DeltaMessage]] = []
        self.replies: dict[str, Result | ErrorReply] = {}
        self.anonymous_errors: list[ErrorReply] = []
        self.closed = False
        self.close_rcvd: Close | None = None
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Peer:
        """Open a connection (no proxy, no compression) and start reading it."""
        ws = await connect(url, proxy=None, compression=None, open_timeout=10, **options)
        return cls(ws)

    @property
    def deltas(self) -> list[DeltaMessage]:
        """Every delta received, in order."""
        return [delta for frame in self.frames for delta in frame]

    @property
    def last_position(self) -> int | None:
        """The position of the last delta received."""
        return self.frames[-1][-1].position if self.frames else None

    def next_id(self) -> str:
        """A fresh request id."""
        return f"r{next(self._ids)}"

    async def request(self, kind: type[R], **fields: Any) -> Result | ErrorReply:
        """Send a request of `kind` with a fresh id and await its reply."""
        request_id = self.next_id()
        await self.ws.send(encode_request(kind(id=request_id, **fields)).decode())
        return await self.reply(request_id)

    async def ok(self, kind: type[R], **fields: Any) -> Result:
        """A request that must succeed: its result."""
        reply = await self.request(kind, **fields)
        assert isinstance(reply, Result), reply
        return reply

    async def reply(self, request_id: str, timeout: float = REPLY_TIMEOUT) -> Result | ErrorReply:
        """The reply to `request_id` (awaited)."""
        await self.until(lambda: request_id in self.replies, timeout, f"the reply to {request_id}")
        return self.replies[request_id]

    async def until(self, condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
        """Wait until `condition` holds over what this peer has received (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.closed:
                raise AssertionError(f"connection closed ({self.close_rcvd}) while waiting for {what}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self._changed.clear()
            await _within(self._changed.wait(), remaining)

    def pause_reading(self) -> None:
        """Stop reading: the server's frames pile up in the sockets, then in the server's queue for this client."""
        self._reader.cancel()

    def resume_reading(self) -> None:
        """Read again, from where reading stopped (cancelling a websockets `recv` loses nothing)."""
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        """Close the connection and stop reading."""
        await self.ws.close()
        await self._reader

    async def closed_with(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close the connection; the close code it sent (None: no close frame)."""
        await _within(asyncio.shield(self._reader), timeout)
        assert self.closed, f"the server did not close the connection within {timeout} s"
        return self.close_rcvd.code if self.close_rcvd is not None else None

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._take(decode_server_message(raw))
                self._changed.set()
        except ConnectionClosed:
            pass
        self.closed = True
        self.close_rcvd = self.ws.protocol.close_rcvd
        self._changed.set()

    def _take(self, message: msgspec.Struct) -> None:
        match message:
            case DeltaMessage():
                self.frames.append([message])
            case DeltasMessage(deltas=deltas):
                self.frames.append(list(deltas))
            case Result(id=request_id) | ErrorReply(id=str(request_id)):
                self.replies[request_id] = message
            case ErrorReply():
                self.anonymous_errors.append(message)
            case _:
                raise AssertionError(f"unexpected server message {message!r}")


async def _within(awaitable: Awaitable[Any], timeout: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(awaitable, timeout)
