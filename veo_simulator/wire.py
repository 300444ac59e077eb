"""Request bodies the simulator accepts, as msgspec Structs (Flow's camelCase; admin's snake_case).

Like Google's JSON-to-proto parser, Flow bodies refuse unknown fields; the one exception is the
legacy status entry, which the browser fills by echoing what it last received.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import msgspec

from veo_simulator.envelope import bad_request
from veo_simulator.errors import ApiError

__all__ = [
    "AdminOperations",
    "CancelBody",
    "ClientContext",
    "GenerateBody",
    "GenerateEntry",
    "LegacyStatusEntry",
    "MediaStatusEntry",
    "StatusBody",
    "decode_body",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _Flow(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of Flow request parts."""


class RecaptchaContext(_Flow):
    """``clientContext.recaptchaContext``."""

    token: str = ""
    application_type: str = ""


class ClientContext(_Flow):
    """``clientContext`` of generate and upscale requests."""

    recaptcha_context: RecaptchaContext | None = None
    recaptcha_token: str = ""
    session_id: str = ""
    project_id: str = ""
    tool: str = ""
    user_paygate_tier: str = ""

    @property
    def captcha_token(self) -> str:
        """The reCAPTCHA token in either the 2026 or the legacy place."""
        if self.recaptcha_context is not None and self.recaptcha_context.token:
            return self.recaptcha_context.token
        return self.recaptcha_token


class MediaGenerationContext(_Flow):
    """``mediaGenerationContext``."""

    batch_id: str = ""
    audio_failure_preference: str = ""


class PromptPart(_Flow):
    """One part of a structured prompt."""

    text: str = ""


class StructuredPrompt(_Flow):
    """``textInput.structuredPrompt``."""

    parts: list[PromptPart] = []


class TextInput(_Flow):
    """``textInput``: a plain prompt or a structured one."""

    prompt: str = ""
    structured_prompt: StructuredPrompt | None = None

    @property
    def text(self) -> str:
        """The prompt text whichever form it came in."""
        if self.prompt:
            return self.prompt
        if self.structured_prompt is not None:
            return "".join(part.text for part in self.structured_prompt.parts)
        return ""


class VideoInput(_Flow):
    """``videoInput`` of an upscale entry."""

    media_id: str = ""


class EntryMetadata(_Flow):
    """``requests[].metadata``."""

    scene_id: str = ""


class OutputSpec(_Flow):
    """``requests[].outputSpec``."""

    resolution: str = ""


class GenerateEntry(_Flow):
    """One entry of ``requests[]``: one operation to create."""

    aspect_ratio: str = ""
    seed: int | None = None
    text_input: TextInput | None = None
    video_model_key: str = ""
    metadata: EntryMetadata | None = None
    output_spec: OutputSpec | None = None
    video_input: VideoInput | None = None
    resolution: str = ""


class GenerateBody(_Flow):
    """Body of batchAsyncGenerateVideoText and batchAsyncGenerateVideoUpsampleVideo."""

    media_generation_context: MediaGenerationContext | None = None
    client_context: ClientContext | None = None
    requests: list[GenerateEntry] = []
    use_v2_model_config: bool = False


class LegacyOperationRef(msgspec.Struct, rename="camel"):
    """``operations[].operation`` of a legacy status check."""

    name: str = ""


class LegacyStatusEntry(msgspec.Struct, rename="camel"):
    """``operations[]`` entry of a legacy status check."""

    operation: LegacyOperationRef | None = None
    scene_id: str = ""
    status: str = ""


class MediaStatusEntry(_Flow):
    """``media[]`` entry of a 2026 status check."""

    name: str = ""
    project_id: str = ""


class StatusBody(_Flow):
    """Body of batchCheckAsyncVideoGenerationStatus, in either contract."""

    operations: list[LegacyStatusEntry] | None = None
    media: list[MediaStatusEntry] | None = None


class CancelBody(_Flow):
    """Body of flowMedia:cancelGeneration."""

    media_id: str = ""
    project_id: str = ""


class AdminOperations(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /_sim/operations``."""

    count: int = 1
    complete_at: list[float] | None = None
    lo: float | None = None
    hi: float | None = None
    model: str = "veo_3_1_t2v_fast"
    prompt: str = "simulated operation"
    project_id: str = ""


def decode_body(body: bytes, kind: type[T]) -> T:
    """Decode a JSON body or raise 400 INVALID_ARGUMENT saying what is wrong."""
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except msgspec.DecodeError as exc:
        raise _invalid(exc) from None


def _invalid(exc: msgspec.DecodeError) -> ApiError:
    return bad_request(f"Invalid JSON payload received. {exc}")
