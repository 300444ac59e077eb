"""The Generation aggregate: one text-to-video job, or one upscale of a finished video.

Commands validate first and then record one past-tense event; the `@event` bodies only assign, because
they run again on every replay. Values that come from the outside world (ids, clock readings) are computed
by the caller and passed in.

Note: eventsourcing 9.5 mishandles keyword-only parameters with defaults in `@event` methods, so the
command signatures below are positional-or-keyword; callers pass keywords.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyTerminal, IllegalTransition
from domain.values import ACTIVE_REMOTE_STATUS, TERMINAL_STATUSES, Status, status_after_failure

__all__ = ["Generation"]


class Generation(Aggregate):
    """A generation's whole life, from the client's request to a video or a failure."""

    class Requested(Aggregate.Created):
        """A client's command was accepted: the job waits for its turn (all parameters, no secrets)."""

        generation_id: UUID
        job_type: str
        prompt: str
        model: str
        aspect_ratio: str
        seed: int
        priority: str
        profile_id: str | None
        """The profile the request is pinned to; None: the account pool chooses at submission time."""
        scene_id: str
        batch_id: str | None
        source_generation_id: str | None
        source_media_id: str | None
        resolution: str | None
        retry_of: str | None
        batch_size: int | None
        batch_delay_s: float | None

    class Submitted(Aggregate.Event):
        """A generate/upscale call is about to be sent: from here on Flow may have it."""

        attempt: int
        account: str | None = None
        """The profile (Flow account) the call goes to; None in events recorded before accounts were pooled,
        which went to the request's own profile."""
        model: str | None = None
        """The model the call asks the backend for (a Gemini profile's own model id, the request's model key on
        Flow); None in events recorded before it was kept, which asked for the request's model."""

    class Deferred(Aggregate.Event):
        """The last submission attempt was answered in a way that proves Flow created nothing; the job waits.

        Not one of the contract's six events: without it a restart could not tell a job whose attempt was
        refused (503, 429, quota) from one whose attempt may have reached Flow, and would fail it as
        `interrupted_submission` although nothing was ever created.
        """

        reason: str
        message: str

    class Started(Aggregate.Event):
        """Flow accepted the submission and named its operation."""

        operation_name: str
        media_name: str | None
        remote_status: str | None

    class Progressed(Aggregate.Event):
        """A status check saw a different remote status."""

        remote_status: str

    class Completed(Aggregate.Event):
        """Flow finished the video."""

        media_generation_id: str | None
        video_url: str | None
        remote_status: str

    class Failed(Aggregate.Event):
        """The generation ended without a video (failed, or cancelled when the reason is `cancelled`)."""

        error_reason: str
        error_message: str
        remote_status: str | None

    class VideoStored(Aggregate.Event):
        """The completed video was downloaded into the data directory (content-addressed by its sha256)."""

        sha256: str
        size: int
        content_type: str

    class VideoStoreFailed(Aggregate.Event):
        """Downloading the completed video kept failing; the relay stopped trying (the status stays completed)."""

        reason: str
        message: str

    @staticmethod
    def create_id(generation_id: UUID, **_: Any) -> UUID:
        """The id is chosen by the command (uuid5 of a request key, or a fresh uuid4)."""
        return generation_id

    @event(Requested)
    def __init__(
        self,
        generation_id: UUID,
        job_type: str,
        prompt: str,
        model: str,
        aspect_ratio: str,
        seed: int,
        priority: str,
        profile_id: str | None,
        scene_id: str,
        batch_id: str | None = None,
        source_generation_id: str | None = None,
        source_media_id: str | None = None,
        resolution: str | None = None,
        retry_of: str | None = None,
        batch_size: int | None = None,
        batch_delay_s: float | None = None,
    ) -> None:
        self.job_type = job_type
        self.prompt = prompt
        self.model = model
        self.aspect_ratio = aspect_ratio
        self.seed = seed
        self.priority = priority
        self.profile_id = profile_id
        """The pinned profile, or None for the pool."""
        self.account: str | None = profile_id
        """The account of the latest submission (a pool job's is None until its first)."""
        self.scene_id = scene_id
        self.batch_id = batch_id
        self.source_generation_id = source_generation_id
        self.source_media_id = source_media_id
        self.resolution = resolution
        self.retry_of = retry_of
        self.batch_delay_s = batch_delay_s
        """Seconds between the submissions of this batch's items, as the client asked (None: the default)."""
        self.status = Status.PENDING
        self.remote_status: str | None = None
        self.attempts = 0
        self.deferred = False
        self.operation_name: str | None = None
        self.media_name: str | None = None
        self.media_generation_id: str | None = None
        self.video_url: str | None = None
        self.error_reason: str | None = None
        self.error_message: str | None = None
        self.video_sha256: str | None = None
        self.video_bytes: int | None = None
        self.video_content_type: str | None = None
        self.video_store_failure: str | None = None

    # --- guards -------------------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        """Completed, failed or cancelled: no further event is accepted."""
        return self.status in TERMINAL_STATUSES

    @property
    def is_started(self) -> bool:
        """Flow accepted the submission (the operation name is known)."""
        return self.operation_name is not None

    def check_not_terminal(self, command: str) -> None:
        """Terminal states are final."""
        if self.is_terminal:
            msg = f"cannot {command}: generation {self.id} is already {self.status}"
            raise AlreadyTerminal(msg)

    def check_not_started(self, command: str) -> None:
        """Submission commands only fit a generation Flow has not accepted yet."""
        self.check_not_terminal(command)
        if self.is_started:
            msg = f"cannot {command}: generation {self.id} was already started as {self.operation_name}"
            raise IllegalTransition(msg)

    def check_started(self, command: str) -> None:
        """Status commands only fit a generation Flow has accepted."""
        self.check_not_terminal(command)
        if not self.is_started:
            msg = f"cannot {command}: generation {self.id} has not been started yet"
            raise IllegalTransition(msg)

    # --- commands -----------------------------------------------------------------------------------

    def submit(self, account: str | None = None, model: str | None = None) -> None:
        """Mark that a submission to `account` (default: the pinned profile) asking for `model` (default: the
        request's) is about to be sent: from here on, the backend may have it. A pinned generation goes only to
        its own profile."""
        self.check_not_started("submit")
        account = account or self.profile_id
        if account is None:
            msg = f"cannot submit: generation {self.id} is a pool job and no account was chosen"
            raise IllegalTransition(msg)
        if self.profile_id is not None and account != self.profile_id:
            msg = f"cannot submit: generation {self.id} is pinned to profile {self.profile_id!r}, not {account!r}"
            raise IllegalTransition(msg)
        self._submitted(attempt=self.attempts + 1, account=account, model=model)

    @event(Submitted)
    def _submitted(self, attempt: int, account: str | None = None, model: str | None = None) -> None:
        self.attempts = attempt
        self.deferred = False
        if account is not None:
            self.account = account

    @property
    def submission_open(self) -> bool:
        """A submission was sent and nothing has yet told whether Flow created the operation."""
        return self.attempts > 0 and not self.is_started and not self.deferred

    def defer(self, reason: str, message: str) -> None:
        """The attempt in flight provably created nothing: the job goes back to waiting."""
        self.check_not_started("defer")
        if not self.submission_open:
            msg = f"cannot defer: generation {self.id} has no submission in flight"
            raise IllegalTransition(msg)
        self._deferred(reason=reason, message=message)

    @event(Deferred)
    def _deferred(self, reason: str, message: str) -> None:
        self.deferred = True

    def start(self, operation_name: str, media_name: str | None, remote_status: str | None) -> None:
        """Flow accepted the submission and named the operation."""
        self.check_not_started("start")
        if self.attempts == 0:
            msg = f"cannot start: generation {self.id} was never submitted"
            raise IllegalTransition(msg)
        self._started(operation_name=operation_name, media_name=media_name, remote_status=remote_status)

    @event(Started)
    def _started(self, operation_name: str, media_name: str | None, remote_status: str | None) -> None:
        self.operation_name = operation_name
        self.media_name = media_name
        self.remote_status = remote_status
        if remote_status == ACTIVE_REMOTE_STATUS:
            self.status = Status.PROCESSING

    def progress(self, remote_status: str) -> bool:
        """Record a changed remote status; an unchanged one records nothing. True when recorded."""
        self.check_started("record progress")
        if remote_status == self.remote_status:
            return False
        self._progressed(remote_status=remote_status)
        return True

    @event(Progressed)
    def _progressed(self, remote_status: str) -> None:
        self.remote_status = remote_status
        if remote_status == ACTIVE_REMOTE_STATUS:
            self.status = Status.PROCESSING

    def complete(self, media_generation_id: str | None, video_url: str | None, remote_status: str) -> None:
        """Flow finished the video."""
        self.check_started("complete")
        self._completed(media_generation_id=media_generation_id, video_url=video_url, remote_status=remote_status)

    @event(Completed)
    def _completed(self, media_generation_id: str | None, video_url: str | None, remote_status: str) -> None:
        self.media_generation_id = media_generation_id
        self.video_url = video_url
        self.remote_status = remote_status
        self.status = Status.COMPLETED

    def fail(self, error_reason: str, error_message: str, remote_status: str | None = None) -> None:
        """The generation failed for good (Flow's reason verbatim, or one of the contract's reasons)."""
        self.check_not_terminal("fail")
        self._failed(
            error_reason=error_reason,
            error_message=error_message,
            remote_status=remote_status if remote_status is not None else self.remote_status,
        )

    @event(Failed)
    def _failed(self, error_reason: str, error_message: str, remote_status: str | None) -> None:
        self.error_reason = error_reason
        self.error_message = error_message
        self.remote_status = remote_status
        self.status = status_after_failure(error_reason)

    # --- the kept video (after Completed; never changes status) -------------------------------------

    @property
    def video_settled(self) -> bool:
        """The video was stored, or storing it was given up: nothing more to download."""
        return self.video_sha256 is not None or self.video_store_failure is not None

    def check_completed(self, command: str) -> None:
        """Only a completed generation has a video to keep."""
        if self.status != Status.COMPLETED:
            msg = f"cannot {command}: generation {self.id} is {self.status}, not completed"
            raise IllegalTransition(msg)

    def store_video(self, sha256: str, size: int, content_type: str) -> None:
        """Record the stored file of the completed video."""
        self.check_completed("store the video")
        if self.video_settled:
            msg = f"cannot store the video: generation {self.id}'s video is already settled"
            raise IllegalTransition(msg)
        self._video_stored(sha256=sha256, size=size, content_type=content_type)

    @event(VideoStored)
    def _video_stored(self, sha256: str, size: int, content_type: str) -> None:
        self.video_sha256 = sha256
        self.video_bytes = size
        self.video_content_type = content_type

    def fail_video_store(self, reason: str, message: str) -> None:
        """Record that downloading the completed video kept failing."""
        self.check_completed("give up the video")
        if self.video_settled:
            msg = f"cannot give up the video: generation {self.id}'s video is already settled"
            raise IllegalTransition(msg)
        self._video_store_failed(reason=reason, message=message)

    @event(VideoStoreFailed)
    def _video_store_failed(self, reason: str, message: str) -> None:
        self.video_store_failure = reason
