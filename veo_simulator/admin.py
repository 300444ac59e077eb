"""The simulator's own endpoints under ``/_sim/``: audit, fault mix, account limits, made and forgotten
operations, media files."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from typing import Any

from veo_simulator.config import VIDEO_SIZE
from veo_simulator.core import SimCore
from veo_simulator.envelope import bad_request, not_found
from veo_simulator.errors import ApiError, ConfigError
from veo_simulator.exchange import SimRequest, SimResponse
from veo_simulator.faults import FaultMix
from veo_simulator.state import NewOperation, Status
from veo_simulator.wire import AdminOperations, decode_body

__all__ = ["MAX_ADMIN_OPERATIONS", "VIDEO_SIZE", "AdminApi", "create_running", "video_bytes"]

logger = logging.getLogger(__name__)

MAX_ADMIN_OPERATIONS = 100_000
_FTYP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
_JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
_MEDIA = re.compile(r"^/_sim/media/(?P<name>[^/]+)\.(?P<ext>mp4|jpg)$")
_OPERATION = re.compile(r"^/_sim/operations/(?P<name>[^/]+)$")


def create_running(core: SimCore, spec: AdminOperations) -> list[dict[str, Any]]:
    """Create operations that are already running, without any submission (not rate-counted)."""
    if not 1 <= spec.count <= MAX_ADMIN_OPERATIONS:
        raise bad_request(f"count must be within 1-{MAX_ADMIN_OPERATIONS}")
    if spec.complete_at is not None and len(spec.complete_at) != spec.count:
        raise bad_request("complete_at must hold exactly count instants")
    lo = spec.lo if spec.lo is not None else core.config.lo
    hi = spec.hi if spec.hi is not None else max(core.config.hi, lo)
    if lo < 0 or hi < lo:
        raise bad_request("need 0 <= lo <= hi")
    created: list[dict[str, Any]] = []
    with core.lock:
        for index in range(spec.count):
            new = NewOperation(
                scene_id=str(uuid.uuid4()),
                origin="admin",
                project_id=spec.project_id,
                batch_id="",
                model=spec.model,
                prompt=spec.prompt,
            )
            complete_at = spec.complete_at[index] if spec.complete_at is not None else None
            op = core.book.create(new, complete_at, lo=lo, hi=hi)
            created.append(
                {
                    "name": op.name,
                    "media_name": op.media_name,
                    "media_generation_id": op.media_generation_id,
                    "scene_id": op.scene_id,
                    "project_id": op.project_id,
                    "created_at": op.created_at,
                    "complete_at": op.complete_at,
                }
            )
        core.changed()
    return created


class AdminApi:
    """Answers ``/_sim/*``; these requests never count against the rate."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one admin request."""
        try:
            return self._route(request)
        except ApiError as error:
            return SimResponse.error(error)

    def _route(self, request: SimRequest) -> SimResponse:
        core = self._core
        match = _MEDIA.match(request.path)
        if match is not None and request.method == "GET":
            return self._media(match["name"], match["ext"])
        with core.lock:
            core.audit.admin_requests += 1
        key = (request.method, request.path)
        forget = _OPERATION.match(request.path)
        if forget is not None and request.method == "DELETE":
            return self._forget(forget["name"])
        if key == ("GET", "/_sim/health"):
            return SimResponse.json({"ok": True})
        if key == ("GET", "/_sim/audit"):
            return SimResponse.json(core.report())
        if key == ("GET", "/_sim/faults"):
            with core.lock:
                return SimResponse.json({"faults": core.faults.mix.as_dict()})
        if key == ("POST", "/_sim/faults"):
            return self._set_faults(request.body)
        if key == ("GET", "/_sim/accounts"):
            with core.lock:
                return SimResponse.json(
                    {"limits": core.accounts.limits.as_dict(), "accounts": core.accounts.report(core.wall())}
                )
        if key == ("POST", "/_sim/accounts"):
            return self._set_account_limits(request.body)
        if key == ("POST", "/_sim/operations"):
            spec = decode_body(request.body, AdminOperations)
            return SimResponse.json({"operations": create_running(core, spec)})
        raise not_found()

    def _forget(self, name: str) -> SimResponse:
        """Lose an operation, as Flow sometimes does: from now on every endpoint answers as for an unknown one."""
        core = self._core
        with core.lock:
            operation = core.book.forget(name)
            if operation is None:
                raise not_found()
            core.changed()
        logger.info("forgot operation %s", operation.name)
        return SimResponse.json({"forgotten": operation.name})

    def _set_faults(self, body: bytes) -> SimResponse:
        raw = decode_body(body, dict[str, Any])
        try:
            mix = FaultMix.from_mapping(raw)
        except ConfigError as exc:
            raise bad_request(str(exc)) from None
        with self._core.lock:
            self._core.faults.mix = mix
        logger.info("fault mix is now %s", mix.as_dict())
        return SimResponse.json({"faults": mix.as_dict()})

    def _set_account_limits(self, body: bytes) -> SimResponse:
        """Change some per-account limits while running (fields of ``AccountLimits``; ``quotas`` by credential)."""
        raw = decode_body(body, dict[str, Any])
        core = self._core
        with core.lock:
            try:
                core.accounts.limits = core.accounts.limits.changed(raw)
            except ConfigError as exc:
                raise bad_request(str(exc)) from None
            limits = core.accounts.limits.as_dict()
        logger.info("account limits are now %s", limits)
        return SimResponse.json({"limits": limits})

    def _media(self, name: str, ext: str) -> SimResponse:
        core = self._core
        with core.lock:
            core.audit.media_downloads += 1
            operation = core.book.get(name)
            if operation is None or core.book.status(operation) is not Status.SUCCESSFUL:
                raise not_found()
        if ext == "jpg":
            return SimResponse(200, _JPEG_BYTES, "image/jpeg")
        return SimResponse(200, video_bytes(name, core.config.video_size), "video/mp4")


def video_bytes(name: str, size: int = VIDEO_SIZE) -> bytes:
    """The simulated video of media `name`: an ISO BMFF ``ftyp`` box and a ``free`` box whose filler is derived
    from the name, ``size`` bytes in all (the same bytes for the same name, different for another)."""
    filler_size = size - len(_FTYP) - 8
    seed = hashlib.sha256(name.encode()).digest()
    filler = (seed * (filler_size // len(seed) + 1))[:filler_size]
    return _FTYP + (filler_size + 8).to_bytes(4, "big") + b"free" + filler
