"""The body of ``predictLongRunning``, checked the way the Gemini API checks it (flow-api.md §6).

The top level is a proto message (unknown names are refused by the JSON parser); ``instances[]`` and
``parameters`` are free-form values the Veo model checks itself: a field it does not take is refused with
"`x` isn't supported by this model." The fields taken are those the official SDK (google-genai) sends in
Gemini Developer API mode: ``numberOfVideos`` goes on the wire as ``sampleCount``, and ``seed``,
``generateAudio``, ``fps``, ``storageUri`` and the like exist on Vertex AI only; ``enhancePrompt`` is refused by
the Veo 3.1 models themselves. Video extension (``instances[].video``) is not simulated.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from veo_simulator.gemini_envelope import invalid, unsupported

__all__ = [
    "ASPECT_RATIOS",
    "DURATIONS",
    "PERSON_GENERATION",
    "PredictRequest",
    "parse_predict",
]

logger = logging.getLogger(__name__)

ASPECT_RATIOS = ("16:9", "9:16")
DURATIONS = (4, 6, 8)
PERSON_GENERATION = {False: "allow_all", True: "allow_adult"}
"""The one ``personGeneration`` Veo 3 takes, without and with an input image (the Gemini API's Veo docs)."""
_RESOLUTIONS = ("720p", "1080p")
_RESOLUTIONS_3_1 = ("720p", "1080p", "4k")
_TOP_LEVEL = frozenset({"instances", "parameters", "webhookConfig"})
_INSTANCE_FIELDS = frozenset({"prompt", "image", "lastFrame", "referenceImages"})
_IMAGE_INPUTS = ("image", "lastFrame", "referenceImages")
_PARAMETERS = frozenset(
    {"aspectRatio", "durationSeconds", "resolution", "negativePrompt", "personGeneration", "sampleCount"}
)
_PARAMETERS_3_0 = _PARAMETERS | {"enhancePrompt"}
_IMAGE_FIELDS = frozenset({"bytesBase64Encoded", "mimeType"})
_MAX_SAMPLES = 4


@dataclass(frozen=True, slots=True)
class PredictRequest:
    """What a valid request asks for."""

    prompt: str
    aspect_ratio: str
    duration_s: int
    resolution: str
    samples: int


def parse_predict(body: bytes, model: str) -> PredictRequest:
    """Check a ``predictLongRunning`` body for ``model``; raises ApiError (400) like the API."""
    try:
        raw = msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from None
    if not isinstance(raw, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    for name in raw:
        if name not in _TOP_LEVEL:
            raise invalid(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    instances = raw.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise invalid("`instances` must hold exactly one instance.")
    prompt = _instance(instances[0])
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid("Invalid JSON payload received. `parameters` must be an object.")
    from_image = any(name in instances[0] for name in _IMAGE_INPUTS)
    return _parameters(parameters, model, prompt, from_image)


def _instance(instance: dict[str, Any]) -> str:
    for name in instance:
        if name not in _INSTANCE_FIELDS:
            raise unsupported(name)
    prompt = instance.get("prompt", "")
    if not isinstance(prompt, str):
        raise invalid("`prompt` needs to be a string.")
    for name in ("image", "lastFrame"):
        if name in instance:
            _image(instance[name])
    references = instance.get("referenceImages", [])
    if not isinstance(references, list) or len(references) > 3:
        raise invalid("`referenceImages` takes at most 3 images.")
    for reference in references:
        if not isinstance(reference, dict) or set(reference) - {"image", "referenceType"}:
            raise invalid("A reference image needs `image` and `referenceType`.")
        _image(reference.get("image"))
    if not prompt.strip() and "image" not in instance:
        raise invalid("A text prompt or an input image is required.")
    return prompt


def _image(image: object) -> None:
    if not isinstance(image, dict):
        raise invalid("An image needs `bytesBase64Encoded` and `mimeType`.")
    for name in image:
        if name not in _IMAGE_FIELDS:
            raise unsupported(name)
    if not image.get("bytesBase64Encoded") or not isinstance(image.get("mimeType"), str):
        raise invalid("An image needs `bytesBase64Encoded` and `mimeType`.")


def _parameters(parameters: dict[str, Any], model: str, prompt: str, from_image: bool) -> PredictRequest:
    taken = _PARAMETERS if "veo-3.1" in model else _PARAMETERS_3_0
    for name in parameters:
        if name not in taken:
            raise unsupported(name)
    aspect_ratio = parameters.get("aspectRatio", "16:9")
    if aspect_ratio not in ASPECT_RATIOS:
        raise invalid(f"Aspect ratio {aspect_ratio!s} is not supported. Supported aspect ratios: 16:9, 9:16.")
    duration = _number(parameters, "durationSeconds", 8)
    if duration not in DURATIONS:
        raise invalid(
            "The number value for `durationSeconds` is out of bound. Please provide a value between 4 and 8, inclusive."
        )
    resolutions = _RESOLUTIONS_3_1 if "veo-3.1" in model else _RESOLUTIONS
    resolution = parameters.get("resolution", "720p")
    if resolution not in resolutions:
        raise invalid(f"Resolution {resolution!s} is not supported. Supported resolutions: {', '.join(resolutions)}.")
    if resolution != "720p" and duration != 8:
        raise invalid(f"Resolution {resolution} needs `durationSeconds` 8.")
    _check(parameters, "negativePrompt", lambda v: isinstance(v, str), "needs to be a string")
    _check(parameters, "enhancePrompt", lambda v: isinstance(v, bool), "needs to be a boolean")
    person = parameters.get("personGeneration", PERSON_GENERATION[from_image])
    if person != PERSON_GENERATION[from_image]:
        raise invalid(f"`{person!s}` for personGeneration is currently not supported.")
    samples = _number(parameters, "sampleCount", 1)
    if not 1 <= samples <= _MAX_SAMPLES:
        raise invalid(
            "The number value for `sampleCount` is out of bound. "
            f"Please provide a value between 1 and {_MAX_SAMPLES}, inclusive."
        )
    return PredictRequest(prompt, str(aspect_ratio), duration, str(resolution), samples)


def _number(parameters: dict[str, Any], name: str, default: int) -> int:
    value = parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"`{name}` needs to be a number.")
    if not math.isfinite(value) or value != int(value):
        raise invalid(f"`{name}` needs to be a whole number.")
    return int(value)


def _check(parameters: dict[str, Any], name: str, valid: Callable[[object], bool], wrong: str) -> None:
    if name in parameters and not valid(parameters[name]):
        raise invalid(f"`{name}` {wrong}.")
