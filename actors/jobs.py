"""The PollerActor's working state of one generation (in memory only; the store holds the facts)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast
from uuid import UUID

from actors.flow import AspectRatio, GenerateSpec, StatusHandle, UpscaleSpec
from domain.generation import Generation
from domain.values import PRIORITY_RANK, JobType, Priority

__all__ = ["Job", "Phase"]


class Phase(StrEnum):
    """Where a job is in the poller."""

    QUEUED = "queued"  # waiting for its turn to be submitted (budget, batch spacing, backoff, paused profile)
    WAITING_TOKEN = "waiting_token"  # noqa: S105 - waiting for a reCAPTCHA token from a provider
    SUBMITTING = "submitting"  # `Submitted` recorded, the call is in flight
    RUNNING = "running"  # Flow accepted it; status checks are scheduled
    RESOLVING = "resolving"  # Flow finished it; the video URL is being fetched
    DONE = "done"  # terminal event recorded


@dataclass(slots=True, eq=False)
class Job:
    """One generation as the poller works on it; secrets (the token) never leave memory."""

    generation_id: UUID
    job_type: str
    prompt: str
    model: str
    aspect_ratio: str
    seed: int
    priority: int
    profile_id: str | None
    """The account the job is on: its pinned profile, or the one the pool chose for its current submission
    (None while a pool job waits in the queue)."""
    scene_id: str
    batch_id: str | None = None
    source_media_id: str | None = None
    resolution: str | None = None
    phase: Phase = Phase.QUEUED
    sequence: int = 0
    recaptcha_token: str | None = field(default=None, repr=False)
    operation_name: str | None = None
    media_name: str | None = None
    remote_status: str | None = None
    pooled: bool = False
    """Requested without a profile: the pool chooses its account at each submission."""
    not_before: float = -math.inf
    submit_errors: int = 0
    captcha_rejections: int = 0
    cancel_requested: bool = False
    media_generation_id: str | None = None
    url_attempts: int = 0
    absent_since: float | None = None
    """When a status answer that reported other jobs first left this one out (None: reported, or not yet)."""

    @classmethod
    def from_generation(cls, generation: Generation, sequence: int, token: str | None = None) -> Job:
        """The working state of a recorded generation."""
        return cls(
            generation_id=generation.id,
            job_type=generation.job_type,
            prompt=generation.prompt,
            model=generation.model,
            aspect_ratio=generation.aspect_ratio,
            seed=generation.seed,
            priority=PRIORITY_RANK.get(Priority(generation.priority), 1),
            profile_id=generation.account,
            pooled=generation.profile_id is None,
            scene_id=generation.scene_id,
            batch_id=generation.batch_id,
            source_media_id=generation.source_media_id,
            resolution=generation.resolution,
            sequence=sequence,
            recaptcha_token=token,
            operation_name=generation.operation_name,
            media_name=generation.media_name,
            remote_status=generation.remote_status,
        )

    @property
    def account(self) -> str:
        """The account the job is on (a job that was submitted, or is pinned, always has one)."""
        if self.profile_id is None:
            raise ValueError(f"generation {self.generation_id} waits for the pool to choose its account")
        return self.profile_id

    @property
    def handle(self) -> StatusHandle:
        """What a status check names this job by."""
        if self.operation_name is None:
            raise ValueError(f"generation {self.generation_id} has no operation yet")
        return StatusHandle(
            operation_name=self.operation_name,
            media_name=self.media_name,
            scene_id=self.scene_id,
            status=self.remote_status,
        )

    def spec(self) -> GenerateSpec | UpscaleSpec:
        """The request body's parameters for this job's submission."""
        if self.job_type == JobType.UPSCALE:
            return UpscaleSpec(
                scene_id=self.scene_id,
                source_media_id=self.source_media_id or "",
                resolution="4k" if self.resolution == "4k" else "1080p",
                aspect_ratio=_aspect(self.aspect_ratio),
                seed=self.seed,
                model=self.model,
            )
        return GenerateSpec(
            scene_id=self.scene_id,
            prompt=self.prompt,
            model=self.model,
            aspect_ratio=_aspect(self.aspect_ratio),
            seed=self.seed,
            batch_id=self.batch_id,
        )


def _aspect(value: str) -> AspectRatio:
    return cast("AspectRatio", value) if value in ("landscape", "portrait", "square") else "landscape"
