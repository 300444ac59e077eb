"""The websocket server: connections, per-connection flood control, request tasks, delta fan-out wiring."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from server.bootstrap import System
from server.client import Client
from server.handlers import Handlers
from server.http_front import HttpFront
from server.hub import DeltaHub, JournalReader
from server.metrics import render_metrics
from server.protocol import (
    CLOSE_POLICY_VIOLATION,
    MAX_FRAME_BYTES,
    ErrorCode,
    ProtocolError,
    decode_request,
    encode_error,
    encode_protocol_error,
    request_id_of,
)

__all__ = ["RelayServer"]

logger = logging.getLogger(__name__)

MAX_CONCURRENT_REQUESTS = 16
FLUSH_TIMEOUT = 2.0


class TokenBucket:
    """Per-connection flood control: `rate` messages a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """One message; False when the client is over its rate."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RelayServer:
    """Serves `/ws` (and plain HTTP) for a started System."""

    def __init__(
        self,
        system: System,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        token: str,
        allow_origins: Sequence[str] = (),
        message_rate: float = 50.0,
        message_burst: float = 200.0,
        warnings_before_close: int = 50,
        server_tz: ZoneInfo | None = None,
    ) -> None:
        self.system = system
        self.host = host
        self.port = port
        self.token = token
        self.allow_origins = set(allow_origins)
        self.message_rate = message_rate
        self.message_burst = message_burst
        self.warnings_before_close = warnings_before_close
        history, db = system.history, system.db
        self.hub = DeltaHub(
            JournalReader(
                deltas_after=lambda after, limit: history.deltas_after(db.reader(), after, limit),
                floor=lambda: history.pruned_through(db.reader()),
                head=lambda: history.position(db.reader()),
            )
        )
        self.handlers = Handlers(system, self.hub, server_tz)
        self.clients: set[Client] = set()
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
        self.system.projections.add_listener(self.hub.wake_threadsafe)
        front = HttpFront(self.token, lambda: render_metrics(self), self.origins)
        self._server = await serve(
            self._serve_connection,
            self.host,
            self.port,
            process_request=front,
            max_size=MAX_FRAME_BYTES,
            max_queue=32,
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
        await self.hub.stop()

    async def _serve_connection(self, connection: ServerConnection) -> None:
        client = Client(connection)
        client.start()
        self.clients.add(client)
        bucket = TokenBucket(self.message_rate, self.message_burst)
        warnings = 0
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for message in connection:
                if client.closing:
                    continue  # read on until the close handshake ends: returning now would close with 1000
                if not bucket.take():
                    warnings += 1
                    if warnings > self.warnings_before_close:
                        await client.drained(FLUSH_TIMEOUT)  # the warnings reach the client before the close
                        client.drop(CLOSE_POLICY_VIOLATION)
                        continue
                    client.send_now(
                        encode_error(request_id_of(message), ErrorCode.RATE_LIMITED, "too many messages: slow down")
                    )
                    continue
                if len(tasks) >= MAX_CONCURRENT_REQUESTS:
                    client.send_now(
                        encode_error(
                            request_id_of(message),
                            ErrorCode.OVERLOADED,
                            "too many requests in progress: wait for replies",
                        )
                    )
                    continue
                task = asyncio.create_task(self._answer(client, message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
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

    async def _answer(self, client: Client, message: str | bytes) -> None:
        request_id: str | None = None
        try:
            request = decode_request(message)
            request_id = request.id
            reply = await self.handlers.handle(request, client)
            if reply is None:
                return
        except ProtocolError as exc:
            reply = encode_protocol_error(exc)
        except Exception:
            logger.exception("request %s failed", request_id)
            reply = encode_error(request_id, ErrorCode.INTERNAL, "the server failed to handle this request")
        client.send_now(reply)
