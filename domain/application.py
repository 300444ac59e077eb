"""The event-sourced application that stores generations; persistence is chosen by its environment."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, PersistenceError, Recording

from domain.account import Account, account_id
from domain.errors import GenerationNotFound, IllegalTransition, InvalidParameter, RequestKeyConflict
from domain.generation import Generation
from domain.requests import GenerationSpec, id_for_key, upscale_model, validate_request_key
from domain.values import (
    CANCELLED_MESSAGE,
    MAX_SEED,
    SUCCESSFUL_REMOTE_STATUS,
    ErrorReason,
    JobType,
    Priority,
    Resolution,
    Status,
)

__all__ = ["RecordedListener", "VeoRelay"]

logger = logging.getLogger(__name__)

RecordedListener = Callable[[int], None]
"""Called with the highest notification id after every successful save."""


class VeoRelay(Application[UUID]):
    """Records generations as events; commands here are the only way state changes."""

    name = "VeoRelay"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        # One writer per aggregate (the PollerActor) keeps the cache exact without fast-forward reads.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
    }

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self._listeners: list[RecordedListener] = []
        self._listeners_lock = threading.Lock()
        self._random = random.Random()
        self.write_errors = 0
        """Saves the store refused (a full disk, a read-only file), not counting conflicts."""
        self.write_error: str | None = None
        """Why the last save failed, or None when it succeeded: the store is writable."""

    def save(
        self, *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None, **kwargs: Any
    ) -> list[Recording[UUID]]:
        """Save, keeping count of the saves the store refused (for /metrics)."""
        try:
            recordings = super().save(*objs, **kwargs)
        except IntegrityError:
            raise  # a conflict (a repeated request key), not a storage fault
        except PersistenceError as exc:
            self.write_errors += 1
            self.write_error = str(exc) or type(exc).__name__
            raise
        self.write_error = None
        return recordings

    # --- notifications ----------------------------------------------------------------------------

    def add_listener(self, listener: RecordedListener) -> None:
        """Call `listener(position)` after every save (projections wake on it instead of polling)."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: RecordedListener) -> None:
        """Stop calling `listener`."""
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if not recordings:
            return
        position = max(r.notification.id for r in recordings)
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(position)
            except Exception:
                logger.exception("save listener %r failed", listener)

    def last_position(self) -> int:
        """The highest notification id in the store (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    # --- queries ----------------------------------------------------------------------------------

    def get_generation(self, generation_id: UUID) -> Generation:
        """The generation with this id, or GenerationNotFound."""
        try:
            generation: Generation = self.repository.get(generation_id)
        except AggregateNotFoundError:
            raise GenerationNotFound(generation_id) from None
        return generation

    def exists(self, generation_id: UUID) -> bool:
        """Whether a generation with this id was recorded."""
        return generation_id in self.repository

    # --- client commands --------------------------------------------------------------------------

    def request_generation(
        self, spec: GenerationSpec, request_key: str | None = None, retry_of: str | None = None
    ) -> tuple[UUID, bool]:
        """Record `Requested` for a text-to-video job; (id, created). A known request key is not paid twice."""
        validate_request_key(request_key)
        generation_id = id_for_key("generation", request_key) if request_key else uuid4()
        if request_key and self.exists(generation_id):
            self._check_same(self.get_generation(generation_id), spec, request_key)
            return generation_id, False
        generation = self._new_generation(generation_id, spec, retry_of=retry_of)
        try:
            self.save(generation)
        except IntegrityError:
            if not request_key:
                raise
            self._check_same(self.get_generation(generation_id), spec, request_key)
            return generation_id, False
        return generation_id, True

    def request_batch(
        self, specs: Sequence[GenerationSpec], request_key: str | None = None, delay_s: float | None = None
    ) -> tuple[UUID, list[UUID], bool]:
        """Record `Requested` for every prompt of a batch in one atomic save; (batch id, ids, created).

        `delay_s` (the spacing of the items' submissions) is recorded with each item, so a restarted poller keeps it.
        """
        validate_request_key(request_key)
        if not specs:
            raise InvalidParameter("prompts", "a batch needs at least one prompt")
        batch_id = id_for_key("batch", request_key) if request_key else uuid4()
        # Items share a millisecond, and the history orders ties by id: ascending ids keep request order (keyed
        # ids are sorted too, so the same key still gives the same id to each prompt).
        ids = sorted(
            id_for_key("generation", f"{request_key}:{index}") if request_key else uuid4()
            for index in range(len(specs))
        )
        if request_key and self.exists(ids[0]):
            for index, (generation_id, spec) in enumerate(zip(ids, specs, strict=True)):
                if not self.exists(generation_id):
                    msg = f"request key {request_key!r} names a batch of a different size"
                    raise RequestKeyConflict(msg)
                self._check_same(self.get_generation(generation_id), spec, f"{request_key}:{index}")
            return batch_id, ids, False
        generations = [
            self._new_generation(
                generation_id, spec, batch_id=str(batch_id), batch_size=len(specs), batch_delay_s=delay_s
            )
            for generation_id, spec in zip(ids, specs, strict=True)
        ]
        self.save(*generations)
        return batch_id, ids, True

    def request_upscale(
        self,
        source_id: UUID,
        resolution: str = Resolution.P1080,
        priority: str = Priority.NORMAL,
        request_key: str | None = None,
    ) -> tuple[UUID, bool]:
        """Record `Requested` for an upscale of a completed generation; (id, created)."""
        validate_request_key(request_key)
        if resolution not in set(Resolution):
            raise InvalidParameter("resolution", f"must be one of {', '.join(Resolution)}")
        source = self.get_generation(source_id)
        if source.status != Status.COMPLETED:
            msg = f"cannot upscale generation {source_id}: it is {source.status}, not completed"
            raise IllegalTransition(msg)
        key = request_key or f"{source_id}:{resolution}"
        generation_id = id_for_key("upscale", key)
        if self.exists(generation_id):
            return generation_id, False
        upscale = Generation(
            generation_id=generation_id,
            job_type=JobType.UPSCALE.value,
            prompt=source.prompt,
            model=upscale_model(resolution),
            aspect_ratio=source.aspect_ratio,
            seed=source.seed,
            priority=str(priority),
            profile_id=source.account,  # the source video lives on the account that made it
            scene_id=str(uuid4()),
            source_generation_id=str(source_id),
            source_media_id=source.media_generation_id or source.media_name,
            resolution=str(resolution),
        )
        self.save(upscale)
        return generation_id, True

    def request_retry(self, failed_id: UUID) -> tuple[UUID, bool]:
        """A new generation with the parameters of a failed or cancelled one (`retry_of` links them); (id, created)."""
        failed = self.get_generation(failed_id)
        if failed.status not in (Status.FAILED, Status.CANCELLED):
            msg = f"cannot retry generation {failed_id}: it is {failed.status}, not failed or cancelled"
            raise IllegalTransition(msg)
        generation_id = id_for_key("retry", str(failed_id))
        if self.exists(generation_id):
            return generation_id, False
        retry = Generation(
            generation_id=generation_id,
            job_type=failed.job_type,
            prompt=failed.prompt,
            model=failed.model,
            aspect_ratio=failed.aspect_ratio,
            seed=failed.seed,
            priority=failed.priority,
            profile_id=failed.profile_id,
            scene_id=str(uuid4()),
            batch_id=None,
            source_generation_id=failed.source_generation_id,
            source_media_id=failed.source_media_id,
            resolution=failed.resolution,
            retry_of=str(failed_id),
        )
        self.save(retry)
        return generation_id, True

    # --- poller commands (one writer per aggregate: the PollerActor) ------------------------------

    def record_submitted(self, generation_id: UUID, account: str | None = None, model: str | None = None) -> int:
        """Record `Submitted` just before a generate/upscale call asking for `model` (default: the request's) is
        sent to `account` (default: the pinned profile); returns the attempt number."""
        generation = self.get_generation(generation_id)
        generation.submit(account, model)
        self.save(generation)
        return generation.attempts

    def record_deferred(self, generation_id: UUID, reason: str, message: str) -> None:
        """Record `Deferred`: the attempt in flight provably created nothing; the job waits for another."""
        generation = self.get_generation(generation_id)
        generation.defer(reason=reason, message=message)
        self.save(generation)

    def record_started(
        self, generation_id: UUID, operation_name: str, media_name: str | None, remote_status: str | None
    ) -> None:
        """Record `Started`: Flow accepted the submission."""
        generation = self.get_generation(generation_id)
        generation.start(operation_name=operation_name, media_name=media_name, remote_status=remote_status)
        self.save(generation)

    def record_progress(self, generation_id: UUID, remote_status: str) -> bool:
        """Record `Progressed` when the remote status changed; True when something was recorded."""
        generation = self.get_generation(generation_id)
        if not generation.progress(remote_status):
            return False
        self.save(generation)
        return True

    def record_completed(
        self,
        generation_id: UUID,
        media_generation_id: str | None,
        video_url: str | None,
        remote_status: str = SUCCESSFUL_REMOTE_STATUS,
    ) -> None:
        """Record `Completed`."""
        generation = self.get_generation(generation_id)
        generation.complete(media_generation_id=media_generation_id, video_url=video_url, remote_status=remote_status)
        self.save(generation)

    def record_failed(self, generation_id: UUID, reason: str, message: str, remote_status: str | None = None) -> None:
        """Record `Failed` with a reason (Flow's verbatim, or one of ErrorReason)."""
        generation = self.get_generation(generation_id)
        generation.fail(error_reason=reason, error_message=message, remote_status=remote_status)
        self.save(generation)

    def record_cancelled(self, generation_id: UUID) -> None:
        """Record `Failed(cancelled)`: the generation's status becomes `cancelled`."""
        self.record_failed(generation_id, ErrorReason.CANCELLED, CANCELLED_MESSAGE)

    # --- video keeper commands (the one writer of a completed generation) ------------------------

    def record_video_stored(self, generation_id: UUID, sha256: str, size: int, content_type: str) -> None:
        """Record `VideoStored`: the completed video's file is in the data directory."""
        generation = self.get_generation(generation_id)
        generation.store_video(sha256=sha256, size=size, content_type=content_type)
        self.save(generation)

    def record_video_store_failed(self, generation_id: UUID, reason: str, message: str) -> None:
        """Record `VideoStoreFailed`: downloading the completed video kept failing (one of VideoStoreFailure)."""
        generation = self.get_generation(generation_id)
        generation.fail_video_store(reason=reason, message=message)
        self.save(generation)

    # --- accounts (the poller is their one writer) -------------------------------------------------

    def get_account(self, profile_id: str) -> Account | None:
        """What was learned about a profile's Flow account, or None when nothing was."""
        try:
            account: Account = self.repository.get(account_id(profile_id))
        except AggregateNotFoundError:
            return None
        return account

    def record_account(self, profile_id: str, change: Callable[[Account], None]) -> Account:
        """Apply one Account command (`change`) to the profile's account, opening it first if new, and save."""
        account = self.get_account(profile_id) or Account(profile_id=profile_id)
        change(account)
        self.save(account)
        return account

    # --- helpers ----------------------------------------------------------------------------------

    def _new_generation(
        self,
        generation_id: UUID,
        spec: GenerationSpec,
        batch_id: str | None = None,
        retry_of: str | None = None,
        batch_size: int | None = None,
        batch_delay_s: float | None = None,
    ) -> Generation:
        seed = spec.seed if spec.seed is not None else self._random.randint(0, MAX_SEED)
        return Generation(
            generation_id=generation_id,
            job_type=JobType.GENERATION.value,
            prompt=spec.prompt,
            model=spec.model,
            aspect_ratio=str(spec.aspect_ratio),
            seed=seed,
            priority=str(spec.priority),
            profile_id=spec.profile_id,
            scene_id=str(uuid4()),
            batch_id=batch_id,
            retry_of=retry_of,
            batch_size=batch_size,
            batch_delay_s=batch_delay_s,
        )

    @staticmethod
    def _check_same(existing: Generation, spec: GenerationSpec, request_key: str) -> None:
        """A repeated request key must repeat the same request."""
        differences: list[str] = [
            name
            for name, value in (
                ("prompt", spec.prompt),
                ("model", spec.model),
                ("aspect_ratio", spec.aspect_ratio),
                ("priority", spec.priority),
                ("profile_id", spec.profile_id),
            )
            if getattr(existing, name) != value
        ]
        if spec.seed is not None and spec.seed != existing.seed:
            differences.append("seed")
        if differences:
            msg = (
                f"request key {request_key!r} was already used for a different request "
                f"(differs in {', '.join(differences)})"
            )
            raise RequestKeyConflict(msg)
