"""A websocket client of the relay (CONTRACT §4): typed requests in, `data` out, deltas as an async iterator.

The CLI, the scripting examples, `bench/` and the tests all speak to a server through this class. One
reader task owns the connection's incoming side: it resolves each request's future by the reply's `id`
and queues deltas (a `deltas` frame is flattened into its `delta`s, in order).

Exceptions::

    ClientError             anything RelayClient raises
    ├── UnexpectedReply     a reply whose `data` does not have the shape its request promises
    ├── RelayUnavailable    no server at the URL, the handshake was refused (401, 403), no reply in time,
    │                       or the connection was lost
    └── RelayError          the server answered with an `error` frame: its `code`, `message` and `field`
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from veo_client.results import HistoryRow, Subscribed, awaits_copy, is_terminal_status
from veo_protocol import (
    MAX_STATUS_IDS,
    CaptchaRequest,
    Channel,
    DeltaMessage,
    DeltasMessage,
    ErrorCode,
    ErrorReply,
    GetStatuses,
    ProtocolError,
    QueueStatus,
    Request,
    Result,
    Subscribe,
    decode_server_message,
    encode_request,
)

__all__ = [
    "AUTO_ID",
    "KEPT_WAIT_S",
    "MAX_REPLY_BYTES",
    "ClientError",
    "RelayClient",
    "RelayError",
    "RelayUnavailable",
    "UnexpectedReply",
    "convert_data",
    "websocket_url",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
AUTO_ID = ""
"""Build requests with `id=AUTO_ID`: the client gives every request it sends a fresh id."""
KEPT_WAIT_S = 10.0
"""How long a wait for jobs follows a completed one for the relay's copy of its video (`wait_for_jobs`): the relay
stores it a fraction of a second to a few seconds after completion; one that keeps no videos costs this much."""
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_REPLY_BYTES = 64 << 20
"""The largest frame the client reads. This relay's frames keep to 1 MiB; a larger limit costs nothing and
still reads a relay from before `get_statuses` replies were bounded (1,000 long rows came to ~62 MB)."""


class ClientError(Exception):
    """Base class of every error RelayClient raises."""


class UnexpectedReply(ClientError):
    """A reply whose `data` does not have the shape its request promises."""


class RelayUnavailable(ClientError):
    """The server cannot be reached, refused the connection, did not answer in time, or went away."""


class RelayError(ClientError):
    """The server answered a request with an `error` frame."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message if field is None else f"{message} (field: {field})")
        self.code = code
        self.message = message
        self.field = field


def websocket_url(url: str) -> str:
    """The `/ws` address for `http(s)://host:port`, `ws(s)://host:port[/ws]` or `host:port` (ValueError if none)."""
    text = url.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"{url!r} is not a relay address such as http://127.0.0.1:8765")
    path = parts.path.rstrip("/") or "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class RelayClient:
    """One connection to a relay; use `async with RelayClient(url, token) as client:`."""

    def __init__(
        self, url: str, token: str | None, *, open_timeout: float = 5.0, request_timeout: float = 60.0
    ) -> None:
        self.url = websocket_url(url)
        self._token = token
        self.open_timeout = open_timeout
        self.request_timeout = request_timeout
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Result]] = {}
        self._deltas: asyncio.Queue[DeltaMessage | None] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._lost: RelayUnavailable | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"RelayClient({self.url!r})"

    @property
    def token(self) -> str | None:
        """The client token this connection authenticates with (for the relay's HTTP routes, e.g. /videos)."""
        return self._token

    def http_url(self, path: str) -> str:
        """The relay's plain-HTTP address of `path` (`/videos/ID`), on the same host and port as its websocket."""
        parts = urlsplit(self.url)
        return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, path, "", ""))

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect (RelayUnavailable when the server is absent or refuses)."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        host = urlsplit(self.url).hostname or ""
        try:
            self._connection = await connect(
                self.url,
                additional_headers=headers,
                open_timeout=self.open_timeout,
                max_size=MAX_REPLY_BYTES,
                max_queue=None,
                compression=None,
                proxy=None if host in _LOOPBACK else True,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise RelayUnavailable(f"{self.url} refused the token (HTTP 401): pass --token or VEO_TOKEN") from None
            raise RelayUnavailable(f"{self.url} refused the connection (HTTP {status})") from None
        except (InvalidHandshake, InvalidURI) as exc:
            raise RelayUnavailable(f"{self.url} is not a veo-relay websocket ({exc})") from None
        except TimeoutError:
            raise RelayUnavailable(f"{self.url} did not answer within {self.open_timeout:g} s") from None
        except OSError as exc:
            raise RelayUnavailable(f"cannot reach veo-relay at {self.url}: {exc.strerror or exc}") from None
        self._reader = asyncio.create_task(self._read(self._connection), name="relay-client-reader")

    async def close(self) -> None:
        """Close the connection and stop the reader."""
        self._closing = True
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_all(RelayUnavailable("the client was closed"))

    # --- requests -----------------------------------------------------------------------------------

    async def call(self, request: Request) -> Result:
        """Send `request` under a fresh id; its `result` (RelayError for an `error` reply)."""
        if self._connection is None:
            raise RelayUnavailable("the client is not connected")
        if self._lost is not None:
            raise self._lost
        request_id = f"r{next(self._ids)}"
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._connection.send(encode_request(msgspec.structs.replace(request, id=request_id)), text=True)
            return await asyncio.wait_for(future, self.request_timeout)
        except TimeoutError:
            raise RelayUnavailable(f"no reply to {_kind(request)} within {self.request_timeout:g} s") from None
        except ConnectionClosed as exc:
            raise RelayUnavailable(f"the connection to {self.url} closed ({_closed(exc)})") from None
        finally:
            self._pending.pop(request_id, None)

    async def request(self, request: Request) -> Any:
        """The `data` of `request`'s result (plain JSON values)."""
        return (await self.call(request)).data

    async def fetch(self, request: Request, into: type[T]) -> T:
        """The `data` of `request`'s result converted into `into` (ClientError if it does not fit)."""
        return convert_data(await self.request(request), into, _kind(request))

    async def subscribe(self, channels: Sequence[Channel | str], after: int | None = None) -> Subscribed:
        """Follow channels, live from now or resumed after a position (check `resumed`)."""
        request = Subscribe(id=AUTO_ID, channels=[Channel(c) for c in channels], after=after)
        return await self.fetch(request, Subscribed)

    # --- deltas -------------------------------------------------------------------------------------

    async def next_delta(self) -> DeltaMessage:
        """The next delta of the subscribed channels (RelayUnavailable once the connection is gone)."""
        delta = await self._deltas.get()
        if delta is None:
            self._deltas.put_nowait(None)  # every later reader sees the end too
            raise self._lost or RelayUnavailable("the client was closed")
        return delta

    async def deltas(self) -> AsyncIterator[DeltaMessage]:
        """Every delta of the subscribed channels, in position order, until the connection is lost."""
        while True:
            yield await self.next_delta()

    async def statuses(
        self, generation_ids: Sequence[UUID | str]
    ) -> AsyncIterator[tuple[list[str], list[HistoryRow], int]]:
        """`get_statuses` for any number of ids: each group asked, the rows found in it, and their position.

        Groups start at the protocol's 1,000 ids; a group whose rows do not fit one reply frame (long
        prompts: the relay refuses it with `bad_message` on `generation_ids`) is asked again in halves.
        """
        wanted = [str(i) for i in generation_ids]
        groups = [wanted[start : start + MAX_STATUS_IDS] for start in range(0, len(wanted), MAX_STATUS_IDS)]
        while groups:
            group = groups.pop(0)
            try:
                result = await self.call(GetStatuses(id=AUTO_ID, generation_ids=[UUID(i) for i in group]))
            except RelayError as exc:
                if exc.code != ErrorCode.BAD_MESSAGE or exc.field != "generation_ids" or len(group) == 1:
                    raise
                half = len(group) // 2
                groups[:0] = [group[:half], group[half:]]
                continue
            yield group, convert_data(result.data, list[HistoryRow], "get_statuses"), result.position

    async def wait_for_jobs(
        self, generation_ids: Sequence[UUID | str], *, kept_within: float = 0.0
    ) -> AsyncIterator[HistoryRow]:
        """Each job's current row, then every change of it, until all are terminal (completed, failed, cancelled).

        Subscribe to the jobs' channel BEFORE the command that made them: this reads a snapshot
        (`get_statuses`) and applies only the deltas after its position, so nothing is missed or doubled.

        With `kept_within`, a completed job whose video the relay has not stored yet (`awaits_copy`) is followed
        for up to that many more seconds, until its row says the copy is stored or changes without it (the
        download failed for good): its final row then names the relay's copy. A relay that keeps no videos (its
        `queue_status` says so) is not waited for.
        """
        wanted = [str(i) for i in generation_ids]
        rows: dict[str, HistoryRow] = {}
        seen_at: dict[str, int] = {}
        async for chunk, found_rows, position in self.statuses(wanted):
            found = {row.id: row for row in found_rows}
            for generation_id in chunk:
                seen_at[generation_id] = position
                if generation_id in found:
                    rows[generation_id] = found[generation_id]
                    yield found[generation_id]
        while not (len(rows) == len(wanted) and all(is_terminal_status(r.status) for r in rows.values())):
            row = self._row_change(await self.next_delta(), seen_at)
            if row is not None:
                rows[row.id] = row
                yield row
        if kept_within <= 0 or not any(awaits_copy(r) for r in rows.values()) or not await self.keeps_videos():
            return
        settled: set[str] = set()  # completed rows that changed again: the copy is stored, or will not be
        deadline = asyncio.get_running_loop().time() + kept_within
        while any(awaits_copy(r) and r.id not in settled for r in rows.values()):
            left = deadline - asyncio.get_running_loop().time()
            try:
                delta = await asyncio.wait_for(self.next_delta(), left) if left > 0 else None
            except TimeoutError:
                delta = None
            if delta is None:
                return
            row = self._row_change(delta, seen_at)
            if row is not None:
                settled.add(row.id)
                rows[row.id] = row
                yield row

    async def keeps_videos(self) -> bool:
        """Whether the relay keeps finished videos (`queue_status.keep_videos`; a relay that does not say is
        taken to, as relays keep them by default)."""
        state = await self.request(QueueStatus(id=AUTO_ID))
        return not isinstance(state, dict) or state.get("keep_videos") is not False

    @staticmethod
    def _row_change(delta: DeltaMessage, seen_at: dict[str, int]) -> HistoryRow | None:
        """The row a delta carries when it is a newer change of a job followed (`seen_at`: its last position)."""
        if delta.channel == Channel.BATCH_PROGRESS:
            return None
        row = convert_data(delta.data, HistoryRow, "a delta")
        if row.id not in seen_at or delta.position <= seen_at[row.id]:
            return None
        seen_at[row.id] = delta.position
        return row

    # --- the reader ---------------------------------------------------------------------------------

    async def _read(self, connection: ClientConnection) -> None:
        try:
            async for frame in connection:
                try:
                    message = decode_server_message(frame)
                except ProtocolError as exc:
                    logger.warning("ignoring a frame the client cannot read: %s", exc.message)
                    continue
                self._dispatch(message)
            if not self._closing:
                self._lost = RelayUnavailable(f"the server closed the connection ({_closed_code(connection)})")
        except ConnectionClosed as exc:
            self._lost = RelayUnavailable(f"the connection to {self.url} was lost ({_closed(exc)})")
        finally:
            self._fail_all(self._lost or RelayUnavailable("the client was closed"))

    def _dispatch(self, message: Result | ErrorReply | DeltaMessage | DeltasMessage | CaptchaRequest) -> None:
        match message:
            case Result(id=request_id):
                future = self._pending.get(request_id)
                if future is not None and not future.done():
                    future.set_result(message)
            case ErrorReply(id=request_id, code=code, message=text, field=field):
                error = RelayError(str(code), text, field)
                if request_id is None:  # the server could not say which request it refused
                    self._fail_pending(error)
                elif (future := self._pending.get(request_id)) is not None and not future.done():
                    future.set_exception(error)
            case DeltaMessage():
                self._deltas.put_nowait(message)
            case DeltasMessage(deltas=deltas):
                for delta in deltas:
                    self._deltas.put_nowait(delta)
            case CaptchaRequest():
                logger.debug("ignoring a captcha_request: this client is not a token provider")

    def _fail_pending(self, error: ClientError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    def _fail_all(self, error: RelayUnavailable) -> None:
        if self._lost is None:
            self._lost = error
        self._fail_pending(error)
        self._deltas.put_nowait(None)


def convert_data(data: Any, into: type[T], what: str) -> T:
    """A result's `data` as `into`; UnexpectedReply, naming what was asked, when it does not fit."""
    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as exc:
        raise UnexpectedReply(f"unexpected reply to {what}: {exc}") from None


def _kind(request: Request) -> str:
    return str(type(request).__struct_config__.tag)


def _closed(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame"
    return f"code {frame.code}" + (f": {frame.reason}" if frame.reason else "")


def _closed_code(connection: ClientConnection) -> str:
    code, reason = connection.close_code, connection.close_reason
    return f"code {code}" + (f": {reason}" if reason else "")
