"""The values the Flow client takes and hands back (immutable msgspec Structs)."""

from __future__ import annotations

import logging
from typing import Literal

import msgspec

__all__ = [
    "AspectRatio",
    "Credits",
    "GenerateSpec",
    "RemoteStatus",
    "Resolution",
    "SessionTokens",
    "StatusContract",
    "StatusHandle",
    "SubmitResult",
    "UpscaleSpec",
]

logger = logging.getLogger(__name__)

AspectRatio = Literal["landscape", "portrait", "square"]
Resolution = Literal["1080p", "4k"]
StatusContract = Literal["operations", "media"]


class GenerateSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to generate: one text-to-video request."""

    scene_id: str
    prompt: str
    model: str
    aspect_ratio: AspectRatio = "landscape"
    seed: int | None = None
    batch_id: str | None = None


class UpscaleSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to upscale: a finished video, by its media generation id."""

    scene_id: str
    source_media_id: str
    resolution: Resolution = "1080p"
    aspect_ratio: AspectRatio = "landscape"
    seed: int | None = None
    batch_id: str | None = None
    model: str | None = None


class StatusHandle(msgspec.Struct, frozen=True, kw_only=True):
    """What a status check needs to name one submitted job."""

    operation_name: str
    media_name: str | None = None
    scene_id: str | None = None
    status: str | None = None

    def name_for(self, contract: StatusContract) -> str:
        """The name this job has under ``contract``."""
        if contract == "media":
            return self.media_name or self.operation_name
        return self.operation_name


class SubmitResult(msgspec.Struct, frozen=True, kw_only=True):
    """Flow's answer to an accepted generate or upscale."""

    operation_name: str | None = None
    media_name: str | None = None
    scene_id: str | None = None
    remote_status: str | None = None
    remaining_credits: int | None = None
    terminal: bool = False
    successful: bool = False
    media_generation_id: str | None = None
    inline_video: bool = False
    error_code: int | None = None
    error_reason: str | None = None
    error_message: str | None = None

    @property
    def handle(self) -> StatusHandle | None:
        """The handle to poll, or None when the answer is already terminal without one."""
        name = self.operation_name or self.media_name
        if name is None:
            return None
        return StatusHandle(
            operation_name=name, media_name=self.media_name, scene_id=self.scene_id, status=self.remote_status
        )


class RemoteStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One job's state as a status check reported it."""

    handle: StatusHandle
    scene_id: str | None = None
    status: str | None = None
    terminal: bool = False
    successful: bool = False
    media_generation_id: str | None = None
    video_url: str | None = None
    error_code: int | None = None
    error_reason: str | None = None
    error_message: str | None = None
    remaining_credits: int | None = None
    """The account's balance the whole answer carried (flow-api.md §1.3)."""

    @property
    def name(self) -> str:
        """The operation name of the job (the handle's)."""
        return self.handle.operation_name


class Credits(msgspec.Struct, frozen=True, kw_only=True):
    """The account's remaining credits and paygate tier."""

    credits: int | None = None
    tier: str | None = None


class SessionTokens(msgspec.Struct, frozen=True, kw_only=True):
    """What labs' session endpoint gave: an access token and/or a refreshed session cookie."""

    access_token: str | None = None
    session_cookie: str | None = None
    expires: str | None = None
    refresh_needed: bool = False

    def __repr__(self) -> str:
        return (
            f"SessionTokens(access_token={'[redacted]' if self.access_token else None}, "
            f"session_cookie={'[redacted]' if self.session_cookie else None}, "
            f"expires={self.expires!r}, refresh_needed={self.refresh_needed!r})"
        )
