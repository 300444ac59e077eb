"""The relay's commands, written once for every front: the websocket handlers, the scripting API and (through
its sink) a cluster node that forwards to the leader.

A command records its events through the domain application, hands the accepted jobs to a `CommandSink` (the
PollerSupervisor on the node that calls Flow, or the store for the leader to run) and answers once the read
model holds what it recorded (read-your-writes), with that position. Errors are the domain's
(`domain.errors`); the fronts turn them into what their callers are told.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from uuid import UUID

from domain.application import VeoRelay
from domain.errors import GenerationNotFound, IllegalTransition, InvalidParameter
from domain.requests import GenerationSpec
from domain.values import DEFAULT_MODEL, TERMINAL_STATUSES, AspectRatio, Priority, Resolution
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.rows import HistoryRow
from projections.runner import ProjectionRunner

__all__ = [
    "REFRESH_WAIT",
    "Accepted",
    "BatchAccepted",
    "CommandService",
    "CommandSink",
    "GenerateOptions",
    "RowAt",
    "SystemParts",
]

logger = logging.getLogger(__name__)

SETTLE_WAIT = 5.0
"""How long a command waits for the read model to apply what it recorded before answering anyway."""
REFRESH_WAIT = 10.0
"""How long a refresh waits for its status check before answering with the current row."""


class CommandSink(Protocol):
    """Where accepted jobs go: the PollerSupervisor on the node that calls Flow, else the store (cluster)."""

    @property
    def profiles(self) -> Mapping[str, object]: ...

    def enqueue(
        self, generation_ids: Sequence[UUID], token: str | None = None, delay_s: float | None = None
    ) -> None: ...

    def refresh(self, generation_id: UUID) -> Future[None]: ...

    def cancel(self, generation_id: UUID) -> bool: ...


class SystemParts(Protocol):
    """What the service uses of a running system (`server.bootstrap.System` is one)."""

    @property
    def app(self) -> VeoRelay: ...

    @property
    def db(self) -> ReadModelDatabase: ...

    @property
    def history(self) -> HistoryView: ...

    @property
    def projections(self) -> ProjectionRunner: ...

    @property
    def commands(self) -> CommandSink: ...


@dataclass(frozen=True)
class GenerateOptions:
    """The options of `generate` and `batch_generate` (None: the default)."""

    model: str | None = None
    aspect_ratio: str | None = None
    seed: int | None = None
    priority: str | None = None
    profile_id: str | None = None


class Accepted(NamedTuple):
    """A recorded job (`created` False when its request key already named it) and the store's position after
    it, which the read model holds (a reply's `position`)."""

    generation_id: UUID
    created: bool
    position: int


class BatchAccepted(NamedTuple):
    """A recorded batch, its generations in prompt order, and the store's position after it (as `Accepted`)."""

    batch_id: UUID
    generation_ids: list[UUID]
    created: bool
    position: int


class RowAt(NamedTuple):
    """A generation's row and the read model's position it was read at."""

    row: HistoryRow
    position: int


class CommandService:
    """generate, batch, upscale, retry, cancel and refresh; blocking (call it from a worker thread)."""

    def __init__(self, parts: SystemParts) -> None:
        self._parts = parts

    # --- commands -----------------------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        options: GenerateOptions,
        *,
        request_key: str | None = None,
        recaptcha_token: str | None = None,
    ) -> Accepted:
        """Record one generation and hand it to the poller (a known request key: the same id, nothing new)."""
        generation_id, created = self._parts.app.request_generation(self._spec(prompt, options), request_key)
        if created:
            self._parts.commands.enqueue([generation_id], recaptcha_token)
        return Accepted(generation_id, created, self.settle())

    def batch(
        self,
        prompts: Sequence[str],
        options: GenerateOptions,
        *,
        delay_s: float,
        request_key: str | None = None,
        recaptcha_token: str | None = None,
    ) -> BatchAccepted:
        """Record one generation per prompt (one atomic save), to be submitted `delay_s` seconds apart."""
        specs = [self._spec(prompt, options) for prompt in prompts]
        batch_id, ids, created = self._parts.app.request_batch(specs, request_key, delay_s)
        if created:
            self._parts.commands.enqueue(ids, recaptcha_token, delay_s)
        return BatchAccepted(batch_id, ids, created, self.settle())

    def upscale(
        self,
        source_id: UUID,
        resolution: str | None = None,
        *,
        request_key: str | None = None,
        recaptcha_token: str | None = None,
    ) -> Accepted:
        """Record an upscale of a completed generation (on its account) and hand it to the poller."""
        upscale_id, created = self._parts.app.request_upscale(
            source_id, resolution or Resolution.P1080, request_key=request_key
        )
        if created:
            self._parts.commands.enqueue([upscale_id], recaptcha_token)
        return Accepted(upscale_id, created, self.settle())

    def retry(self, failed_id: UUID) -> Accepted:
        """A new generation with a failed or cancelled one's parameters (`retry_of` links them; asked twice:
        the same one)."""
        new_id, created = self._parts.app.request_retry(failed_id)
        if created:
            self._parts.commands.enqueue([new_id])
        return Accepted(new_id, created, self.settle())

    def cancel(self, generation_id: UUID) -> RowAt:
        """Stop a job that is not finished (its status becomes `cancelled`); its row afterwards.

        IllegalTransition (`conflict`) when it is already terminal ("it is already cancelled" for a second
        cancel), or when its service finished it before the cancel arrived. A job whose submission is in flight
        is cancelled when that answer arrives: the row answered is still pending (`veo cancel` says so).
        """
        row = self.row(generation_id).row
        if row.status in TERMINAL_STATUSES:
            raise IllegalTransition(f"cannot cancel generation {generation_id}: it is already {row.status}")
        if not self._parts.commands.cancel(generation_id):
            raise IllegalTransition(f"cannot cancel generation {generation_id}: it finished before the cancel arrived")
        return self.row(generation_id)

    def check_now(self, generation_id: UUID) -> Future[None]:
        """Ask the poller for a status check at top priority; done once recorded (at once for a finished job)."""
        if self.row(generation_id).row.status in TERMINAL_STATUSES:
            done: Future[None] = Future()
            done.set_result(None)
            return done
        return self._parts.commands.refresh(generation_id)

    def refresh(self, generation_id: UUID, timeout: float = REFRESH_WAIT) -> RowAt:
        """A status check now; the row once it is recorded, or the current row after `timeout` seconds."""
        try:
            self.check_now(generation_id).result(timeout)
        except FutureTimeout:
            logger.info("refresh of %s took over %.0f s; answering with the current row", generation_id, timeout)
        return self.row(generation_id)

    def check_profile(self, profile_id: str) -> None:
        """InvalidParameter naming `profile_id` when no profile has that name."""
        profiles = self._parts.commands.profiles
        if profile_id not in profiles:
            known = ", ".join(sorted(profiles))
            raise InvalidParameter("profile_id", f"unknown profile {profile_id!r} (known: {known})")

    def check_pool(self) -> None:
        """InvalidParameter naming `profile_id` when no profile takes requests without one (a profile that does
        not say takes them, as Flow profiles do by default)."""
        profiles = self._parts.commands.profiles
        if not any(getattr(profile, "pool", True) for profile in profiles.values()):
            known = ", ".join(sorted(profiles)) or "none"
            msg = f"no profile takes requests without a profile_id (all have pool = false); name one (known: {known})"
            raise InvalidParameter("profile_id", msg)

    # --- read-your-writes ---------------------------------------------------------------------------

    def settle(self) -> int:
        """Wait until the read model holds everything recorded so far; the store's position."""
        position = self._parts.app.last_position()
        self._parts.projections.wait_for(position, SETTLE_WAIT)
        return position

    def row(self, generation_id: UUID) -> RowAt:
        """A generation's row with every change recorded before the call (GenerationNotFound if unknown)."""
        self.settle()
        parts = self._parts
        with parts.db.read() as conn:
            row, position = parts.history.get(conn, str(generation_id)), parts.history.position(conn)
        if row is None:
            raise GenerationNotFound(generation_id)
        return RowAt(row, position)

    def _spec(self, prompt: str, options: GenerateOptions) -> GenerationSpec:
        """A pinned request (its profile must exist) or, without `profile_id`, one for the account pool."""
        profile_id = options.profile_id
        if profile_id is None:
            self.check_pool()
        else:
            self.check_profile(profile_id)
        return GenerationSpec(
            prompt=prompt,
            seed=options.seed,
            model=options.model or DEFAULT_MODEL,
            aspect_ratio=options.aspect_ratio or AspectRatio.LANDSCAPE,
            priority=options.priority or Priority.NORMAL,
            profile_id=profile_id,
        )
