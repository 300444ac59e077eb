"""What a client asks for, validated: the parameters of a new generation and how ids derive from keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from uuid import UUID, uuid5

from domain.errors import InvalidParameter
from domain.values import (
    DEFAULT_MODEL,
    MAX_PROMPT_CHARS,
    MAX_REQUEST_KEY_CHARS,
    MAX_SEED,
    AspectRatio,
    Priority,
    Resolution,
)

__all__ = [
    "DEFAULT_PROFILE",
    "GenerationSpec",
    "id_for_key",
    "upscale_model",
    "validate_request_key",
]

DEFAULT_PROFILE: Final = "default"
_NAMESPACE: Final = UUID("5b1d7a1e-3c4f-4f0e-9a59-7e0b6c1d2a90")
_MODEL_PATTERN: Final = re.compile(r"[a-z0-9_]{1,100}")
_PROFILE_PATTERN: Final = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def id_for_key(kind: str, key: str) -> UUID:
    """The deterministic id of whatever a request key names (a generation, a batch, a retry)."""
    return uuid5(_NAMESPACE, f"{kind}:{key}")


def validate_request_key(key: str | None) -> str | None:
    """A request key is 1-200 characters."""
    if key is not None and not 1 <= len(key) <= MAX_REQUEST_KEY_CHARS:
        raise InvalidParameter("request_key", f"must be 1-{MAX_REQUEST_KEY_CHARS} characters")
    return key


def upscale_model(resolution: str) -> str:
    """The upsampler model key for a resolution."""
    return "veo_3_1_upsampler_4k" if resolution == Resolution.K4 else "veo_3_1_upsampler_1080p"


@dataclass(frozen=True)
class GenerationSpec:
    """The parameters of one text-to-video request, checked on construction."""

    prompt: str
    seed: int | None = None
    model: str = DEFAULT_MODEL
    aspect_ratio: str = AspectRatio.LANDSCAPE
    priority: str = Priority.NORMAL
    profile_id: str | None = DEFAULT_PROFILE
    """The profile to pin the request to; None: the account pool (what a request without `profile_id` gets)."""

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise InvalidParameter("prompt", "must not be empty")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise InvalidParameter("prompt", f"must be at most {MAX_PROMPT_CHARS:,} characters")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise InvalidParameter("seed", f"must be between 0 and {MAX_SEED}")
        if not _MODEL_PATTERN.fullmatch(self.model):
            raise InvalidParameter("model", "must be a Flow model key such as veo_3_1_t2v_fast")
        if self.aspect_ratio not in set(AspectRatio):
            raise InvalidParameter("aspect_ratio", "must be landscape, portrait or square")
        if self.priority not in set(Priority):
            raise InvalidParameter("priority", "must be low, normal, high or urgent")
        if self.profile_id is not None and not _PROFILE_PATTERN.fullmatch(self.profile_id):
            raise InvalidParameter("profile_id", "must be 1-100 letters, digits, '.', '_' or '-'")
