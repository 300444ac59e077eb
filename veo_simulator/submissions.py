"""Generate and upscale calls: the paid submissions, with per-account limits, captcha, validation and faults."""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid

from veo_simulator.core import SimCore
from veo_simulator.envelope import FLOW_FAULTS, bad_request, captcha_rejected, not_found, unsafe_generation
from veo_simulator.errors import ApiError
from veo_simulator.exchange import SimRequest, SimResponse
from veo_simulator.fault_injection import ambiguous_answer
from veo_simulator.faults import AMBIGUOUS, FaultDraw
from veo_simulator.responses import generate_response
from veo_simulator.state import Kind, NewOperation, Operation, Status, is_unsafe
from veo_simulator.wire import ClientContext, GenerateBody, GenerateEntry, decode_body

__all__ = ["ASPECT_RATIOS", "RESOLUTIONS", "submit"]

logger = logging.getLogger(__name__)

ASPECT_RATIOS = frozenset({"VIDEO_ASPECT_RATIO_LANDSCAPE", "VIDEO_ASPECT_RATIO_PORTRAIT", "VIDEO_ASPECT_RATIO_SQUARE"})
RESOLUTIONS = frozenset({"VIDEO_RESOLUTION_1080P", "VIDEO_RESOLUTION_4K"})
_MODEL_KEY = re.compile(r"^(veo|abra)_[a-z0-9_]+$")


def submit(core: SimCore, request: SimRequest, kind: Kind, draw: FaultDraw) -> SimResponse:
    """Handle one generate or upscale call; the caller holds ``core.lock``."""
    body = decode_body(request.body, GenerateBody)
    if not body.requests:
        raise bad_request("Invalid JSON payload received. requests must contain at least one entry.")
    scene_ids = [_scene_id(entry) for entry in body.requests]
    core.audit.attempted(scene_ids)
    account = core.tokens.account_of(request.bearer)
    try:
        core.accounts.admit(account, [entry.video_model_key for entry in body.requests], core.wall())
    finally:
        core.changed()
    context = body.client_context or ClientContext()
    token = context.captcha_token
    fresh = core.captcha.consume(token)
    if core.config.require_captcha and not fresh:
        core.captcha.rejected += 1
        raise captcha_rejected()
    batch_id = body.media_generation_context.batch_id if body.media_generation_context else ""
    batch_id = batch_id or str(uuid.uuid4())
    news = [
        dataclasses.replace(_validate(core, entry, scene_id, kind, context.project_id, batch_id), account=account)
        for entry, scene_id in zip(body.requests, scene_ids, strict=True)
    ]
    core.accounts.spend(account, sum(_cost(new) for new in news))
    operations = [core.book.create(new) for new in news]
    core.accounts.accepted(account, operations)
    core.audit.created(scene_ids)
    for scene_id in scene_ids:
        core.captcha.record_use(scene_id, token)
    core.changed()
    statuses = [core.book.status(op) for op in operations]
    payload = generate_response(operations, statuses, core.accounts.balance(account))
    if draw.fault in AMBIGUOUS:
        for operation in operations:
            core.book.mark_ambiguous(operation, draw.fault.value)
        return ambiguous_answer(core, draw.fault, len(operations), payload, FLOW_FAULTS)
    return SimResponse.json(payload)


def _scene_id(entry: GenerateEntry) -> str:
    if entry.metadata is not None and entry.metadata.scene_id:
        return entry.metadata.scene_id
    return str(uuid.uuid4())


def _check_model(key: str, kind: Kind) -> None:
    if not key:
        raise bad_request("Invalid JSON payload received. videoModelKey is required.")
    upsampler = "upsampler" in key
    if not _MODEL_KEY.match(key) or upsampler != (kind == "upscale"):
        raise not_found()


def _aspect_ratio(entry: GenerateEntry, default: str) -> str:
    aspect = entry.aspect_ratio or default
    if aspect not in ASPECT_RATIOS:
        raise bad_request(f"Invalid value at 'requests[0].aspect_ratio', \"{aspect}\"")
    return aspect


def _validate(
    core: SimCore, entry: GenerateEntry, scene_id: str, kind: Kind, project_id: str, batch_id: str
) -> NewOperation:
    _check_model(entry.video_model_key, kind)
    if kind == "generate":
        prompt = entry.text_input.text if entry.text_input is not None else ""
        if not prompt.strip():
            raise bad_request("Invalid JSON payload received. textInput must hold a prompt.")
        if is_unsafe(prompt):
            raise unsafe_generation()
        return NewOperation(
            scene_id=scene_id,
            kind=kind,
            project_id=project_id,
            batch_id=batch_id,
            model=entry.video_model_key,
            prompt=prompt,
            seed=entry.seed,
            aspect_ratio=_aspect_ratio(entry, "VIDEO_ASPECT_RATIO_LANDSCAPE"),
            resolution=entry.output_spec.resolution if entry.output_spec is not None else "",
        )
    source = _upscale_source(core, entry)
    resolution = entry.resolution or (entry.output_spec.resolution if entry.output_spec is not None else "")
    resolution = resolution or ("VIDEO_RESOLUTION_4K" if "4k" in entry.video_model_key else "VIDEO_RESOLUTION_1080P")
    if resolution not in RESOLUTIONS:
        raise bad_request(f"Invalid value at 'requests[0].resolution', \"{resolution}\"")
    return NewOperation(
        scene_id=scene_id,
        kind=kind,
        project_id=project_id or source.project_id,
        batch_id=batch_id,
        model=entry.video_model_key,
        prompt=source.prompt,
        seed=entry.seed,
        aspect_ratio=_aspect_ratio(entry, source.aspect_ratio),
        resolution=resolution,
        source_name=source.name,
    )


def _upscale_source(core: SimCore, entry: GenerateEntry) -> Operation:
    media_id = entry.video_input.media_id if entry.video_input is not None else ""
    if not media_id:
        raise bad_request("Invalid JSON payload received. videoInput.mediaId is required.")
    source = core.book.find_media(media_id)
    if source is None:
        raise not_found()
    if core.book.status(source) is not Status.SUCCESSFUL:
        raise ApiError(400, "FAILED_PRECONDITION", "The source video has not been generated successfully.")
    return source


def _cost(new: NewOperation) -> int:
    """Flow's 2026 prices (flow-api.md §5): Fast 20 (10 with an `_ultra` key), Quality 100, Lite 10 (5 on
    Ultra), the relaxed / low-priority queue free; a 4K upscale 50, a 1080p one free."""
    if new.kind == "upscale":
        return 50 if new.resolution == "VIDEO_RESOLUTION_4K" else 0
    if "relaxed" in new.model or "low_priority" in new.model:
        return 0
    if "lite" in new.model:
        return 5 if "ultra" in new.model else 10
    if new.model in {"veo_3_1_t2v", "veo_3_0_t2v", "veo_3_1_i2v_s"}:
        return 100
    return 10 if "ultra" in new.model else 20
