"""The websocket server: connections, per-connection flood control, request tasks, delta fan-out wiring."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Data

from actors.clock import Clock
from server.access import ConnectionAccess, Keys
from server.bootstrap import System
from server.client import Client
from server.flood import FloodGuard, Verdict, may_start
from server.handlers import Handlers
from server.host_check import HostCheck
from server.http_front import HttpFront
from server.hub import DeltaHub, JournalReader
from server.metrics import MetricsSnapshot
from server.video_route import VideoRoute
from veo_protocol import (
    CLOSE_POLICY_VIOLATION,
    MAX_FRAME_BYTES,
    ErrorCode,
    ProtocolError,
    Request,
    decode_request,
    encode_error,
    encode_protocol_error,
    request_id_of,
)

__all__ = ["RelayServer"]

logger = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 4
"""Messages websockets holds for the receive loop before it stops reading the socket (bounds memory)."""
FLUSH_TIMEOUT = 2.0
MAX_CONNECTIONS = 2000
"""Open websocket connections beyond which an upgrade is refused (503): each costs memory and a file descriptor."""


class RelayServer:
    """Serves `/ws` (and plain HTTP) for a started System."""

    def __init__(
        self,
        system: System,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        token: str,
        provider_token: str | None = None,
        client_sessions: bool = False,
        allow_origins: Sequence[str] = (),
        allow_hosts: Sequence[str] = (),
        max_connections: int = MAX_CONNECTIONS,
        message_rate: float = 50.0,
        message_burst: float = 200.0,
        warnings_before_close: int = 3,
        flood_pause: float = 1.0,
        clock: Clock = time.monotonic,
        server_tz: ZoneInfo | None = None,
    ) -> None:
        self.system = system
        self.host = host
        self.port = port
        self.keys = Keys(token, provider_token or secrets.token_urlsafe(32), client_sessions)
        """Without a given provider token a random one serves (`get_provider_token` tells a client-token holder)."""
        self.allow_origins = set(allow_origins)
        self.hosts = HostCheck(host, lambda: self.port, allow_hosts)
        self.max_connections = max_connections
        self.message_rate = message_rate
        self.message_burst = message_burst
        self.warnings_before_close = warnings_before_close
        self.flood_pause = flood_pause
        self.clock = clock
        history, db = system.history, system.db
        self.hub = DeltaHub(
            JournalReader(
                deltas_after=lambda after, limit: history.deltas_after(db.reader(), after, limit),
                floor=lambda: history.pruned_through(db.reader()),
                head=lambda: history.position(db.reader()),
            )
        )
        self.handlers = Handlers(system, self.hub, self.keys, server_tz)
        self.metrics = MetricsSnapshot(system)
        self.clients: set[Client] = set()
        self.requests_in_progress = 0
        self.started = time.time()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """The HTTP base URL the server listens on."""
        return f"http://{self.host}:{self.port}"

    def origins(self) -> set[str]:
        """Browser origins allowed to open `/ws`: the server's own, and the configured ones."""
        own = {f"http://{self.host}:{self.port}", f"http://localhost:{self.port}", f"http://127.0.0.1:{self.port}"}
        return own | self.allow_origins

    async def start(self) -> None:
        """Bind and start serving; the hub follows the projection from now on."""
        await self.hub.start()
        await self.metrics.start()
        self.system.projections.add_listener(self.hub.wake_threadsafe)
        front = HttpFront(
            self.keys,
            lambda: self.metrics.render(len(self.clients), self.hub.frames_sent),
            self.origins,
            self.hosts,
            lambda: len(self.clients),
            self.max_connections,
            VideoRoute(self.system.stored_video, self.system.read_video),
        )
        self._server = await serve(
            self._serve_connection,
            self.host,
            self.port,
            process_request=front,
            max_size=MAX_FRAME_BYTES,
            max_queue=MAX_QUEUED_FRAMES,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
            compression=None,
            server_header="veo-relay",
        )
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection and stop."""
        self.system.projections.remove_listener(self.hub.wake_threadsafe)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.metrics.stop()
        await self.hub.stop()
        self.handlers.close()

    async def _serve_connection(self, connection: ServerConnection) -> None:
        client = Client(connection)
        if connection.request is not None:  # always set once the upgrade succeeded
            client.access = ConnectionAccess.opened(self.keys, connection.request)
        client.start()
        self.clients.add(client)
        guard = FloodGuard(
            self.message_rate,
            self.message_burst,
            warnings_before_close=self.warnings_before_close,
            pause=self.flood_pause,
            clock=self.clock,
        )
        tasks: set[asyncio.Task[None]] = set()
        try:
            await self._read(connection, client, guard, tasks)
            # Closing: unread frames stay unread (a flooder's would cost a parse each); the close
            # handshake ends, or the client's close aborts the connection when it cannot.
            await connection.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            self.hub.unsubscribe_all(client)
            self.clients.discard(client)
            if client.provider_id is not None:
                self.system.commands.tokens.unregister(client.provider_id)
            for task in tasks:
                task.cancel()
            await client.stop()

    async def _read(
        self, connection: ServerConnection, client: Client, guard: FloodGuard, tasks: set[asyncio.Task[None]]
    ) -> None:
        """The receive loop: a message waits until its request may start (`may_start`), then is served, warned or
        closed on (`server.flood`), one a turn of the loop, so a client with messages waiting lets others in."""
        async for message in connection:
            while not client.closing and not may_start(len(tasks), self.requests_in_progress):
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if client.closing:
                return
            verdict = guard.admit()
            if verdict is Verdict.SERVE:
                self._serve(message, client, tasks)
                await asyncio.sleep(0)
            elif verdict is Verdict.WARN:
                client.send_now(
                    encode_error(request_id_of(message), ErrorCode.RATE_LIMITED, "too many messages: slow down")
                )
                with contextlib.suppress(TimeoutError):  # unread meanwhile: TCP backpressure stalls the sender
                    await asyncio.wait_for(connection.wait_closed(), guard.pause)
            else:  # the replies to what was read, the warnings among them, reach the client before the close
                if tasks:
                    await asyncio.wait(tasks, timeout=FLUSH_TIMEOUT)
                await client.drained(FLUSH_TIMEOUT)
                client.drop(CLOSE_POLICY_VIOLATION)
                return

    def _serve(self, message: Data, client: Client, tasks: set[asyncio.Task[None]]) -> None:
        """Answer a message admitted by the flood guard: a bad frame at once, a request in a task."""
        try:
            request = decode_request(message)
        except ProtocolError as exc:
            client.send_now(encode_protocol_error(exc))
            return
        task = asyncio.create_task(self._answer(client, request))
        tasks.add(task)
        self.requests_in_progress += 1
        task.add_done_callback(self._answered)
        task.add_done_callback(tasks.discard)

    def _answered(self, _task: asyncio.Task[None]) -> None:
        self.requests_in_progress -= 1

    async def _answer(self, client: Client, request: Request) -> None:
        try:
            reply = await self.handlers.handle(request, client)
            if reply is None:
                return
        except ProtocolError as exc:
            reply = encode_protocol_error(exc)
        except Exception:
            logger.exception("request %s failed", request.id)
            reply = _failed(request)
        client.send_now(reply)


def _failed(request: Request) -> bytes:
    """The `internal` reply to a request whose handling raised (a bug; the caller logs its traceback)."""
    return encode_error(request.id, ErrorCode.INTERNAL, "the server failed to handle this request")
