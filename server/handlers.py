"""What each websocket request does. Reads come from the read model only; Flow is reached only through
the PollerActor (commands hand it work; `refresh` is the one request that asks for a Flow call).

Blocking work (SQLite, actor asks) runs in worker threads so the event loop keeps serving deltas; reads of one
row by key (`get_status`) have a small pool of their own, so long reads and commands never queue ahead of them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from eventsourcing.persistence import PersistenceError

from domain.errors import GenerationNotFound, IllegalTransition, InvalidParameter, RequestKeyConflict
from projections.history import HistoryFilter
from projections.rows import HistoryRow, iso_ms
from server.access import Access, Keys
from server.bootstrap import System
from server.client import Client
from server.coalesce import Coalesced
from server.command_service import REFRESH_WAIT, CommandService, GenerateOptions, RowAt
from server.hub import DeltaHub
from veo_protocol import (
    BatchGenerate,
    Cancel,
    ErrorCode,
    Generate,
    GetAnalytics,
    GetBatch,
    GetHistory,
    GetProviderToken,
    GetStatus,
    GetStatuses,
    ProtocolError,
    ProvideCaptchaToken,
    ProvideSession,
    QueueStatus,
    Refresh,
    RegisterProvider,
    Request,
    Retry,
    Subscribe,
    Unsubscribe,
    Upscale,
    encode_captcha_request,
    encode_result,
)

__all__ = ["Handlers"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_REPLY_ROWS_BYTES = 900_000
_ENCODE = msgspec.json.Encoder().encode
POINT_READ_THREADS = 2
"""Threads for reads of one row by its key (`get_status`), apart from the pool that runs everything else."""


class Handlers:
    """Turns requests into results (encoded frames) or ProtocolErrors."""

    def __init__(self, system: System, hub: DeltaHub, keys: Keys, server_tz: ZoneInfo | None = None) -> None:
        self.system = system
        self.hub = hub
        self.keys = keys
        self.server_tz = server_tz
        self.commands = CommandService(system)
        self._storage_errors: tuple[type[Exception], ...] = (PersistenceError, sqlite3.Error, *system.db.errors)
        self._point_reads = ThreadPoolExecutor(POINT_READ_THREADS, thread_name_prefix="veo-point-read")
        # one PollerActor ask serves every queue_status that arrives meanwhile (one in the actor's inbox at most)
        self._queue_status = Coalesced(lambda: self._run(lambda: (system.commands.queue_status(), hub.position)))

    async def handle(self, request: Request, client: Client) -> bytes | None:
        """The reply frame for `request` (None when already sent; ProtocolError for an error reply)."""
        with self._named_errors(request):
            client.access.admit(request, self.keys)
            if isinstance(request, Subscribe):
                await self._subscribe(request, client)
                return None
            data, position = await self._dispatch(request, client)
        return encode_result(request.id, data, position)

    @contextmanager
    def _named_errors(self, request: Request) -> Iterator[None]:
        """Domain and storage errors as the ProtocolError a client is told."""
        try:
            yield
        except ProtocolError as exc:
            exc.request_id = exc.request_id or request.id
            raise
        except GenerationNotFound as exc:
            raise ProtocolError(ErrorCode.NOT_FOUND, str(exc), "generation_id", request.id) from None
        except InvalidParameter as exc:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, str(exc), exc.field, request.id) from None
        except (IllegalTransition, RequestKeyConflict) as exc:
            raise ProtocolError(ErrorCode.CONFLICT, str(exc), None, request.id) from None
        except self._storage_errors as exc:
            logger.error("storage fault while handling %s: %s", type(request).__name__, exc)
            message = f"the store cannot be used right now ({exc}); nothing was recorded, try again later"
            raise ProtocolError(ErrorCode.INTERNAL, message, None, request.id) from None

    async def _dispatch(self, request: Request, client: Client) -> tuple[Any, int]:
        match request:
            case Unsubscribe(channels=channels):
                await self.hub.settled()  # a page being written to this client was framed for its old channels
                client.channels.difference_update(str(c) for c in channels)
                return {"channels": sorted(client.channels)}, self.hub.position
            case Generate():
                return await self._run(lambda: self._generate(request))
            case BatchGenerate():
                return await self._run(lambda: self._batch(request))
            case Upscale():
                return await self._run(lambda: self._upscale(request))
            case Retry(generation_id=generation_id):
                return await self._run(lambda: self._retry(generation_id))
            case Cancel(generation_id=generation_id):
                return await self._run(lambda: self._cancel(generation_id))
            case GetStatus(generation_id=generation_id):
                return await self._point(lambda: self._row(generation_id))
            case GetStatuses(generation_ids=ids):
                return await self._run(lambda: self._statuses([str(i) for i in ids]))
            case GetHistory():
                return await self._run(lambda: self._history(request))
            case GetBatch(batch_id=batch_id):
                return await self._run(lambda: self._batch_row(batch_id))
            case GetAnalytics(window=window):
                now = datetime.now(UTC).timestamp()
                return await self._run(lambda: self._read(lambda c: self.system.analytics.summary(c, window, now)))
            case Refresh(generation_id=generation_id):
                return await self._refresh(generation_id)
            case QueueStatus():
                status = self.system.commands.published_status()  # in memory: read on the loop, no waiting
                data, position = (status, self.hub.position) if status is not None else await self._queue_status()
                return self.system.queue_status(data), position
            case RegisterProvider():
                return self._register_provider(client, request), self.hub.position
            case ProvideCaptchaToken(request_id=captcha_request, token=token):
                tokens = self.system.commands.tokens
                accepted = client.provider_id is not None and tokens.provide(client.provider_id, captcha_request, token)
                return {"accepted": accepted}, self.hub.position
            case ProvideSession():
                return self._provide_session(client, request), self.hub.position
            case GetProviderToken():
                return {"provider_token": self.keys.provider}, self.hub.position
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"unsupported request {request!r}", "type", request.id)

    async def _subscribe(self, request: Subscribe, client: Client) -> None:
        """Reply first (with the position the deltas will follow), then replay and go live.

        One at a time per connection: a second `subscribe` sent while the first still replays waits for it
        (two replays of one connection would deliver the same deltas twice).
        """
        async with client.subscribing:
            client.channels.update(str(c) for c in request.channels)
            outcome = await self.hub.outcome(client, request.after)
            data = {"channels": sorted(client.channels), "position": outcome.position, "resumed": outcome.resumed}
            client.send_now(encode_result(request.id, data, outcome.position))
            await self.hub.join(client, outcome)

    def _register_provider(self, client: Client, request: RegisterProvider) -> dict[str, Any]:
        """This connection will receive `captcha_request`s (for one profile, or any) and answer them; or, for a
        `nonce` alone, the relay's half of the challenge-response (`server.access`), which registers nothing."""
        access, tokens = client.access, self.system.commands.tokens
        proven = access.access is not Access.PROVING
        if request.nonce is not None and request.proof is None and request.relay_nonce is None:
            challenge: dict[str, Any] = access.challenge(request.nonce, self.keys)
            return challenge | {"providers": tokens.providers()} if proven else challenge
        if request.proof is not None or request.relay_nonce is not None or not proven:
            access.prove(request, self.keys)
        profile_id = request.profile_id
        if profile_id is not None:
            self._check_profile(profile_id)
        if client.provider_id is not None:
            tokens.unregister(client.provider_id)
        loop = asyncio.get_running_loop()

        def send(request_id: str, for_profile: str, action: str) -> None:
            frame = encode_captcha_request(request_id, for_profile, action)
            loop.call_soon_threadsafe(client.send_now, frame)

        client.provider_id = tokens.register(profile_id, send)
        return {"provider_id": client.provider_id, "providers": tokens.providers()}

    def _check_profile(self, profile_id: str) -> None:
        """InvalidParameter naming `profile_id` when no profile has that name."""
        self.commands.check_profile(profile_id)

    def _provide_session(self, client: Client, request: ProvideSession) -> dict[str, bool]:
        """A provider's labs session cookie for its own profile goes to the poller (in memory only)."""
        profile_id = request.profile_id
        commands = self.system.commands
        self._check_profile(profile_id)
        provider_id = client.provider_id
        not_provider = "provide_session is accepted only from a token provider: send register_provider first"
        if provider_id is None:
            raise ProtocolError(ErrorCode.CONFLICT, not_provider)
        try:
            served = commands.tokens.profile_of(provider_id)
        except KeyError:  # the broker dropped it since (a token request could not be sent to it)
            raise ProtocolError(ErrorCode.CONFLICT, not_provider) from None
        if served is None:
            message = (
                "this connection provides tokens for every profile: register_provider with a profile_id "
                "to provide that profile's session"
            )
            raise ProtocolError(ErrorCode.CONFLICT, message)
        if served != profile_id:
            message = (
                f"this connection provides tokens for profile {served!r}: it may provide only that profile's session"
            )
            raise InvalidParameter("profile_id", message)
        if not commands.provide_session(profile_id, request.session_cookie, provider_id):
            message = (
                "this relay node does not call Flow (another node of the cluster leads): connect to the leading node"
            )
            raise ProtocolError(ErrorCode.CONFLICT, message)
        return {"accepted": True}

    @staticmethod
    async def _run(work: Callable[[], T]) -> T:
        return await asyncio.to_thread(work)

    async def _point(self, work: Callable[[], T]) -> T:
        """A read of one row by its key: in its own small pool, never queued behind long reads and commands."""
        return await asyncio.get_running_loop().run_in_executor(self._point_reads, work)

    def close(self) -> None:
        """Stop the point-read threads."""
        self._point_reads.shutdown(wait=False, cancel_futures=True)

    # --- reads --------------------------------------------------------------------------------------

    def _read(self, query: Callable[[Any], T]) -> tuple[T, int]:
        """A query and the read model's position, from one consistent snapshot."""
        with self.system.db.read() as conn:
            return query(conn), self.system.history.position(conn)

    def _row(self, generation_id: UUID) -> tuple[HistoryRow, int]:
        row, position = self._read(lambda c: self.system.history.get(c, str(generation_id)))
        if row is None:
            raise GenerationNotFound(generation_id)
        return row, position

    def _batch_row(self, batch_id: UUID) -> tuple[Any, int]:
        row, position = self._read(lambda c: self.system.history.batch(c, str(batch_id)))
        if row is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"batch {batch_id} not found", "batch_id")
        return row, position

    def _statuses(self, ids: list[str]) -> tuple[list[msgspec.Raw], int]:
        """The rows found, each encoded once; refused when they would not fit one frame (≤ 1 MiB): the error says
        how many do."""
        rows, position = self._read(lambda c: self.system.history.get_many(c, ids))
        encoded, size = [], 0
        for index, row in enumerate(rows):
            encoded.append(msgspec.Raw(_ENCODE(row)))
            size += len(encoded[-1]) + 1
            if size > MAX_REPLY_ROWS_BYTES:
                message = (
                    f"the rows of these {len(ids)} ids do not fit one reply frame (1 MiB; their prompts are long): "
                    f"ask for at most {max(index, 1)} ids at a time"
                )
                raise ProtocolError(ErrorCode.BAD_MESSAGE, message, "generation_ids")
        return encoded, position

    def _history(self, request: GetHistory) -> tuple[dict[str, Any], int]:
        """A page grouped by day; rows are read and encoded (once) only while the reply stays under 1 MiB."""
        tz = self._zone(request.tz)
        before = _cursor(request.before) if request.before else None
        only = _filter(request, tz)
        page, position = self._read(lambda c: _fitting(self.system.history.iter_page(c, request.limit, before, only)))
        rows, trimmed = page
        full = trimmed or len(rows) == request.limit
        days: dict[str, str] = {}  # a row's minute -> its day in `tz` (zone offsets are whole minutes)
        groups: list[dict[str, Any]] = []
        for row, encoded in rows:
            minute = row.created_at[:16]
            day = days.get(minute)
            if day is None:
                day = days[minute] = datetime.fromisoformat(row.created_at).astimezone(tz).date().isoformat()
            if not groups or groups[-1]["date"] != day:
                groups.append({"date": day, "items": []})
            groups[-1]["items"].append(encoded)
        last = rows[-1][0] if full and rows else None
        return {"groups": groups, "next": f"{last.created_at}|{last.id}" if last else None}, position

    def _zone(self, name: str | None) -> ZoneInfo | None:
        if name is None:
            return self.server_tz
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"unknown time zone {name!r}", "tz") from None

    # --- commands -----------------------------------------------------------------------------------

    def _generate(self, request: Generate) -> tuple[dict[str, Any], int]:
        accepted = self.commands.generate(
            request.prompt, _options(request), request_key=request.request_key, recaptcha_token=request.recaptcha_token
        )
        return {"generation_id": str(accepted.generation_id), "created": accepted.created}, accepted.position

    def _batch(self, request: BatchGenerate) -> tuple[dict[str, Any], int]:
        accepted = self.commands.batch(
            request.prompts,
            _options(request),
            delay_s=request.delay_ms / 1000,
            request_key=request.request_key,
            recaptcha_token=request.recaptcha_token,
        )
        data = {"batch_id": str(accepted.batch_id), "generation_ids": [str(i) for i in accepted.generation_ids]}
        return data, accepted.position

    def _upscale(self, request: Upscale) -> tuple[dict[str, Any], int]:
        accepted = self.commands.upscale(
            request.generation_id,
            request.resolution,
            request_key=request.request_key,
            recaptcha_token=request.recaptcha_token,
        )
        return {"generation_id": str(accepted.generation_id), "created": accepted.created}, accepted.position

    def _retry(self, generation_id: UUID) -> tuple[dict[str, Any], int]:
        accepted = self.commands.retry(generation_id)
        return {"generation_id": str(accepted.generation_id)}, accepted.position

    def _cancel(self, generation_id: UUID) -> RowAt:
        return self.commands.cancel(generation_id)

    async def _refresh(self, generation_id: UUID) -> RowAt:
        """The check is awaited on the loop (up to REFRESH_WAIT), not in a worker thread that would sit idle."""
        done = await self._run(lambda: self.commands.check_now(generation_id))
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), REFRESH_WAIT)
        except TimeoutError:
            logger.info("refresh of %s took over %.0f s; answering with the current row", generation_id, REFRESH_WAIT)
        return await self._run(lambda: self.commands.row(generation_id))


def _options(request: Generate | BatchGenerate) -> GenerateOptions:
    return GenerateOptions(
        model=request.model,
        aspect_ratio=request.aspect_ratio,
        seed=request.seed,
        priority=request.priority,
        profile_id=request.profile_id,
    )


def _cursor(text: str) -> tuple[str, str]:
    created_at, sep, generation_id = text.partition("|")
    if not sep or not created_at or not generation_id:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "before must be the `next` cursor of a previous page", "before")
    return created_at, generation_id


def _filter(request: GetHistory, tz: ZoneInfo | None) -> HistoryFilter | None:
    """The request's search, status and days (`since` through `until`, whole days in `tz`) as a row filter."""
    if request.since is not None and request.until is not None and request.until < request.since:
        message = f"until ({request.until}) is before since ({request.since}): no day is in that range"
        raise ProtocolError(ErrorCode.BAD_MESSAGE, message, "until")
    if request.search is None and request.status is None and request.since is None and request.until is None:
        return None
    return HistoryFilter(
        search=request.search,
        status=request.status.value if request.status is not None else None,
        created_from=_day_start(request.since, tz) if request.since else None,
        created_before=_day_start(request.until, tz, days_after=1) if request.until else None,
    )


def _day_start(day: date, tz: ZoneInfo | None, days_after: int = 0) -> str | None:
    """The row time at which `day` (+ `days_after`) begins in `tz` (None: the server's zone); None beyond the
    calendar's ends (year 1 or 9999), where the bound keeps every row."""
    try:
        moment = datetime.combine(day, time()) + timedelta(days=days_after)
        return iso_ms(moment.replace(tzinfo=tz) if tz is not None else moment.astimezone())
    except (OverflowError, ValueError):
        return None


def _fitting(rows: Iterator[HistoryRow]) -> tuple[list[tuple[HistoryRow, msgspec.Raw]], bool]:
    """Rows with their encoding while they fit one reply frame (the first always); True when some were left."""
    kept: list[tuple[HistoryRow, msgspec.Raw]] = []
    size = 0
    for row in rows:
        encoded = _ENCODE(row)
        size += len(encoded) + 1
        if size > MAX_REPLY_ROWS_BYTES and kept:
            return kept, True
        kept.append((row, msgspec.Raw(encoded)))
    return kept, False
