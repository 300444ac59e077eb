"""The Gemini API's Veo paths (flow-api.md §6, CONTRACT §7) on the simulator's one server.

- ``POST /v1beta/models/{model}:predictLongRunning`` -> ``{"name": "models/{model}/operations/{id}"}``
- ``GET /v1beta/models/{model}/operations/{id}`` -> ``{"name"}`` while running; then ``done`` with
  ``response.generateVideoResponse.generatedSamples[].video.uri``, or ``error``, or (safety-filtered)
  ``raiMediaFilteredCount``/``raiMediaFilteredReasons`` and no samples
- ``GET /v1beta/files/{file}:download?alt=media`` -> 302 to ``/_sim/storage/{file}.mp4``, which needs no key
- ``GET /v1beta/models`` and ``GET /v1beta/models/{model}``: the models served, as Model resources

Every call needs the key (``x-goog-api-key`` header or ``?key=``); predictLongRunning calls beyond the key's
per-minute quota get 429 and create nothing. Files expire ``gemini_file_ttl_s`` after completion (404). Calls
with a valid key get the fault mix as Flow's do, in the Gemini API's words (``GEMINI_FAULTS``), but no ``401``;
the keyless storage behind a download's redirect gets none.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from veo_simulator.admin import video_bytes
from veo_simulator.core import SimCore
from veo_simulator.exchange import SimRequest, SimResponse
from veo_simulator.fault_injection import ambiguous_answer, with_faults
from veo_simulator.faults import AMBIGUOUS, FaultDraw
from veo_simulator.gemini_envelope import (
    GEMINI_FAULTS,
    api_key_invalid,
    invalid,
    key_missing,
    model_not_found,
    not_found,
    quota_exceeded,
)
from veo_simulator.gemini_keys import KeyUse
from veo_simulator.gemini_request import parse_predict
from veo_simulator.gemini_state import GeminiOperation, NewGeminiOperation

__all__ = [
    "FILTERED_REASON",
    "GEMINI_PREFIX",
    "RESPONSE_TYPE",
    "STORAGE_PREFIX",
    "GeminiApi",
    "gemini_route",
    "is_gemini",
    "model_json",
    "operation_json",
]

logger = logging.getLogger(__name__)

GEMINI_PREFIX = "/v1beta/"
STORAGE_PREFIX = "/_sim/storage/"
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
FILTERED_REASON = (
    "Sorry, we can't create videos from prompts that may violate our safety policies. "
    "You will not be charged for blocked videos. Try rephrasing your prompt."
)
_ERROR_CODE = 13  # google.rpc.Code INTERNAL
_ERROR_MESSAGE = "Video generation failed due to an internal error. Please try again later."
_PREDICT = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):predictLongRunning$")
_OPERATION = re.compile(r"^/v1beta/models/(?P<model>[^/:]+)/operations/(?P<id>[^/:]+)$")
_DOWNLOAD = re.compile(r"^/v1beta/files/(?P<file>[^/:]+):download$")
_MODEL = re.compile(r"^/v1beta/models/(?P<model>[^/:]+)$")
_STORAGE = re.compile(r"^/_sim/storage/(?P<file>[^/.]+)\.mp4$")

Answer = Callable[[KeyUse, FaultDraw], SimResponse]
"""The normal answer to one routed request, given the caller's key and the faults drawn for it."""


def is_gemini(path: str) -> bool:
    """Whether ``path`` is one of the Gemini API's."""
    return path.startswith(GEMINI_PREFIX)


def gemini_route(path: str) -> str:
    """The path as the audit counts it: operation and file ids replaced by placeholders."""
    if (match := _OPERATION.match(path)) is not None:
        return f"/v1beta/models/{match['model']}/operations/{{id}}"
    if _DOWNLOAD.match(path) is not None:
        return "/v1beta/files/{file}:download"
    return path


def _key_of(request: SimRequest) -> str:
    return request.headers.get("x-goog-api-key") or request.query.get("key", "")


def model_json(model: str) -> dict[str, Any]:
    """A served model as the Model resource of ``models.get`` and ``models.list``."""
    version = model.removeprefix("veo-").split("-", 1)[0]
    return {
        "name": f"models/{model}",
        "version": version,
        "displayName": f"Veo {version} ({model})",
        "description": "A simulated Veo video generation model.",
        "supportedGenerationMethods": ["predictLongRunning"],
    }


def operation_json(operation: GeminiOperation, done: bool, base_url: str) -> dict[str, Any]:
    """The operation as ``GET /v1beta/{name}`` answers it."""
    payload: dict[str, Any] = {"name": operation.name}
    if not done:
        return payload
    payload["done"] = True
    if operation.outcome == "error":
        payload["error"] = {"code": _ERROR_CODE, "message": _ERROR_MESSAGE}
        return payload
    video: dict[str, Any]
    if operation.outcome == "filtered":
        video = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [FILTERED_REASON]}
    else:
        uris = [f"{base_url}/v1beta/files/{file_id}:download?alt=media" for file_id in operation.files]
        video = {"generatedSamples": [{"video": {"uri": uri}} for uri in uris]}
    payload["response"] = {"@type": RESPONSE_TYPE, "generateVideoResponse": video}
    return payload


class GeminiApi:
    """Answers the Gemini API's paths; ``handle`` runs under ``core.lock``, past the simulator's rate window."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    def arrived(self, request: SimRequest, throttled: bool) -> None:
        """Count a call under its key (when valid) as it arrives, before anything may refuse it; ``throttled``:
        the simulator's per-second rate refuses it."""
        use = self._core.gemini_keys.find(_key_of(request))
        if use is None:
            return
        if throttled:
            use.rate_429 += 1
        if request.method == "POST" and _PREDICT.match(request.path) is not None:
            use.called(self._core.monotonic())
        elif request.method == "GET" and _OPERATION.match(request.path) is not None:
            use.operation_checks += 1
        elif request.method == "GET" and _DOWNLOAD.match(request.path) is not None:
            use.downloads += 1

    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one ``/v1beta/`` request (raises ApiError for error answers): the route, then the key, then the
        fault mix (``veo_simulator.fault_injection``; ``401`` does not apply to a key)."""
        answer = self._route(request)
        if answer is None:
            raise not_found()
        use = self._key(request)
        submission = request.method == "POST"  # predictLongRunning, the only call that creates anything
        return with_faults(
            self._core, request.path, GEMINI_FAULTS, functools.partial(answer, use), submission=submission
        )

    def _route(self, request: SimRequest) -> Answer | None:
        path = request.path
        if request.method == "POST" and (match := _PREDICT.match(path)) is not None:
            return functools.partial(self._predict, request, match["model"])
        if request.method != "GET":
            return None
        if (match := _OPERATION.match(path)) is not None:
            return functools.partial(self._operation, request, match["model"], match["id"])
        if (match := _DOWNLOAD.match(path)) is not None:
            return functools.partial(self._download, request, match["file"])
        if path == "/v1beta/models":
            return self._models
        if (match := _MODEL.match(path)) is not None:
            return functools.partial(self._model, match["model"])
        return None

    def storage(self, request: SimRequest) -> SimResponse:
        """The video bytes behind a download's redirect: no key, not rate-counted, gone once the file expires."""
        core = self._core
        match = _STORAGE.match(request.path)
        with core.lock:
            core.gemini_keys.storage_downloads += 1
            found = match is not None and request.method == "GET" and core.gemini.file(match["file"]) is not None
        if match is None or not found:
            return SimResponse(404, b"Not Found", "text/plain; charset=UTF-8")
        return SimResponse(200, video_bytes(match["file"], core.config.video_size), "video/mp4")

    def _key(self, request: SimRequest) -> KeyUse:
        keys = self._core.gemini_keys
        key = _key_of(request)
        if not key:
            keys.missing_key += 1
            raise key_missing()
        use = keys.find(key)
        if use is None:
            keys.invalid_key += 1
            raise api_key_invalid()
        return use

    def _models(self, use: KeyUse, draw: FaultDraw) -> SimResponse:
        return SimResponse.json({"models": [model_json(model) for model in self._core.config.gemini_models]})

    def _model(self, model: str, use: KeyUse, draw: FaultDraw) -> SimResponse:
        if model not in self._core.config.gemini_models:
            raise not_found()
        return SimResponse.json(model_json(model))

    def _predict(self, request: SimRequest, model: str, use: KeyUse, draw: FaultDraw) -> SimResponse:
        core = self._core
        if model not in core.config.gemini_models:
            raise model_not_found(model)
        rpm = core.config.gemini_rpm
        wait_s = use.admit(core.monotonic(), rpm)
        if wait_s is not None:
            logger.info("Gemini key %s is over its quota of %d calls a minute", use.label, rpm)
            raise quota_exceeded(model, rpm, wait_s)
        asked = parse_predict(request.body, model)
        new = NewGeminiOperation(
            model=model,
            key=use.label,
            prompt=asked.prompt,
            aspect_ratio=asked.aspect_ratio,
            duration_s=asked.duration_s,
            resolution=asked.resolution,
            samples=asked.samples,
        )
        operation = core.gemini.create(new)
        core.changed()
        payload = {"name": operation.name}
        if draw.fault in AMBIGUOUS:
            core.gemini.mark_ambiguous(operation, draw.fault.value)
            return ambiguous_answer(core, draw.fault, 1, payload, GEMINI_FAULTS)
        return SimResponse.json(payload)

    def _operation(
        self, request: SimRequest, model: str, operation_id: str, use: KeyUse, draw: FaultDraw
    ) -> SimResponse:
        core = self._core
        operation = core.gemini.get(operation_id)
        if operation is None or operation.model != model or operation.key != use.label:
            raise not_found()
        seen = operation.first_seen_done_at
        done = core.gemini.observe(operation)
        if operation.first_seen_done_at != seen:
            core.changed()
        return SimResponse.json(operation_json(operation, done, request.base_url))

    def _download(self, request: SimRequest, file_id: str, use: KeyUse, draw: FaultDraw) -> SimResponse:
        core = self._core
        if request.query.get("alt") != "media":
            raise invalid("Only alt=media is supported for file downloads.")
        operation = core.gemini.file(file_id)
        if operation is None or operation.key != use.label:
            raise not_found()
        expires = int(operation.complete_at + core.gemini.file_ttl_s)
        location = f"{request.base_url}{STORAGE_PREFIX}{file_id}.mp4?Expires={expires}&Signature=simulated"
        return SimResponse(302, b"", "text/html; charset=UTF-8", (("Location", location),))
