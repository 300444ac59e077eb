"""The Flow and labs endpoints: rate enforcement, auth, faults, routing; ``/v1beta/*`` goes to the Gemini API,
``/_sim/storage/*`` to its keyless storage, the rest of ``/_sim/*`` to admin."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from veo_simulator.admin import AdminApi
from veo_simulator.core import SimCore
from veo_simulator.envelope import FLOW_FAULTS, bad_request, cannot_cancel, not_found, throttled, unauthenticated
from veo_simulator.errors import ApiError
from veo_simulator.exchange import SimRequest, SimResponse
from veo_simulator.fault_injection import with_faults
from veo_simulator.faults import FaultDraw
from veo_simulator.gemini import STORAGE_PREFIX, GeminiApi, gemini_route, is_gemini
from veo_simulator.gemini_envelope import busy
from veo_simulator.responses import iso, legacy_status_entry, media_path, media_status_entry
from veo_simulator.state import CancelOutcome, Operation, Status
from veo_simulator.submissions import submit
from veo_simulator.wire import CancelBody, MediaStatusEntry, StatusBody, decode_body

__all__ = [
    "CANCEL_PATH",
    "CREDITS_PATH",
    "GENERATE_PATH",
    "MEDIA_REDIRECT_PATH",
    "SESSION_COOKIE",
    "SESSION_PATH",
    "STATUS_PATH",
    "UPSCALE_PATH",
    "FlowApi",
]

logger = logging.getLogger(__name__)

GENERATE_PATH = "/v1/video:batchAsyncGenerateVideoText"
UPSCALE_PATH = "/v1/video:batchAsyncGenerateVideoUpsampleVideo"
STATUS_PATH = "/v1/video:batchCheckAsyncVideoGenerationStatus"
CREDITS_PATH = "/v1/credits"
CANCEL_PATH = "/v1/flowMedia:cancelGeneration"
SESSION_PATH = "/fx/api/auth/session"
MEDIA_REDIRECT_PATH = "/fx/api/trpc/media.getMediaUrlRedirect"
SESSION_COOKIE = "__Secure-next-auth.session-token"
_SESSION_LIFETIME = timedelta(days=30).total_seconds()

FlowHandler = Callable[[SimRequest, FaultDraw], SimResponse]


def _trpc_error(status: int, code: str, rpc_code: int, path: str) -> SimResponse:
    error = {"json": {"message": code, "code": rpc_code, "data": {"code": code, "httpStatus": status, "path": path}}}
    return SimResponse.json({"error": error}, status)


class FlowApi:
    """Answers requests the way Flow (aisandbox-pa) and labs.google would."""

    def __init__(self, core: SimCore) -> None:
        self._core = core
        self._admin = AdminApi(core)
        self._gemini = GeminiApi(core)
        self._flow: dict[tuple[str, str], FlowHandler] = {
            ("POST", GENERATE_PATH): lambda req, draw: submit(core, req, "generate", draw),
            ("POST", UPSCALE_PATH): lambda req, draw: submit(core, req, "upscale", draw),
            ("POST", STATUS_PATH): self._status,
            ("GET", CREDITS_PATH): self._credits,
            ("POST", CANCEL_PATH): self._cancel,
        }
        self._labs: dict[tuple[str, str], Callable[[SimRequest], SimResponse]] = {
            ("GET", SESSION_PATH): self._session,
            ("GET", MEDIA_REDIRECT_PATH): self._media_redirect,
        }

    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request (thread-safe)."""
        if request.path.startswith(STORAGE_PREFIX):
            return self._gemini.storage(request)
        if request.path.startswith("/_sim/"):
            return self._admin.handle(request)
        core = self._core
        with core.lock:
            try:
                response = self._counted(request)
            except ApiError as error:
                response = SimResponse.error(error)
            core.audit.responses_by_status[response.status] += 1
            return response

    def _counted(self, request: SimRequest) -> SimResponse:
        core = self._core
        core.audit.arrival(gemini_route(request.path), core.wall())
        gemini = is_gemini(request.path)
        admitted = core.window.arrive(core.monotonic())
        if gemini:
            self._gemini.arrived(request, throttled=not admitted)
        if not admitted:
            core.audit.throttled_429 += 1
            raise busy() if gemini else throttled()
        if gemini:
            return self._gemini.handle(request)
        key = (request.method, request.path)
        labs = self._labs.get(key)
        if labs is not None:
            return labs(request)
        flow = self._flow.get(key)
        if flow is None:
            raise not_found()
        return self._flow_call(request, flow)

    def _flow_call(self, request: SimRequest, handler: FlowHandler) -> SimResponse:
        core = self._core
        token = request.bearer
        if not token:
            raise unauthenticated("CREDENTIALS_MISSING")
        if not core.tokens.is_valid(token):
            raise unauthenticated()

        def expire() -> ApiError:
            core.tokens.expire(token)
            core.changed()
            return unauthenticated()

        submission = request.path in (GENERATE_PATH, UPSCALE_PATH)
        answer = functools.partial(handler, request)
        return with_faults(core, request.path, FLOW_FAULTS, answer, submission=submission, expire=expire)

    def _status(self, request: SimRequest, draw: FaultDraw) -> SimResponse:
        core = self._core
        body = decode_body(request.body, StatusBody)
        contract = core.config.contract
        if (body.operations is None) == (body.media is None):
            raise bad_request("Invalid JSON payload received. Exactly one of operations or media is required.")
        if body.operations is not None:
            if contract == "media":
                raise bad_request('Invalid JSON payload received. Unknown name "operations": Cannot find field.')
            found = [core.book.get(e.operation.name) for e in body.operations if e.operation is not None]
            operations = [op for op in found if op is not None]
            unseen = sum(op.first_seen_terminal_at is None for op in operations)
            entries = [legacy_status_entry(op, core.book.observe(op), request.base_url) for op in operations]
            key = "operations"
        else:
            if contract == "operations":
                raise bad_request('Invalid JSON payload received. Unknown name "media": Cannot find field.')
            matched = [self._media(entry) for entry in body.media or []]
            operations = [op for op in matched if op is not None]
            unseen = sum(op.first_seen_terminal_at is None for op in operations)
            entries = [media_status_entry(op, core.book.observe(op)) for op in operations]
            key = "media"
        if sum(op.first_seen_terminal_at is None for op in operations) != unseen:
            core.changed()
        payload: dict[str, Any] = {key: entries} if entries else {}
        payload["remainingCredits"] = core.accounts.balance(core.tokens.account_of(request.bearer))
        return SimResponse.json(payload)

    def _media(self, entry: MediaStatusEntry) -> Operation | None:
        operation = self._core.book.get(entry.name)
        if operation is None:
            return None
        if entry.project_id and operation.project_id and entry.project_id != operation.project_id:
            return None
        return operation

    def _credits(self, request: SimRequest, draw: FaultDraw) -> SimResponse:
        core = self._core
        credits = core.accounts.balance(core.tokens.account_of(request.bearer))
        return SimResponse.json({"credits": credits, "userPaygateTier": "PAYGATE_TIER_TWO", "serviceTier": "SIMULATED"})

    def _cancel(self, request: SimRequest, draw: FaultDraw) -> SimResponse:
        body = decode_body(request.body, CancelBody)
        if not body.media_id:
            raise bad_request("Invalid JSON payload received. mediaId is required.")
        outcome = self._core.book.cancel(body.media_id)
        if outcome is CancelOutcome.NOT_FOUND:
            raise not_found()
        if outcome is CancelOutcome.FINISHED:
            raise cannot_cancel()
        self._core.changed()
        return SimResponse.json({})

    def _session(self, request: SimRequest) -> SimResponse:
        cookie = request.cookie(SESSION_COOKIE)
        if not cookie:
            return SimResponse.json({})
        core = self._core
        issued = core.tokens.issued
        token = core.tokens.session_token(cookie)
        if core.tokens.issued != issued:
            core.changed()
        user = {"name": "Simulated User", "email": "simulated@example.com", "image": ""}
        return SimResponse.json({"user": user, "expires": iso(core.wall() + _SESSION_LIFETIME), "access_token": token})

    def _media_redirect(self, request: SimRequest) -> SimResponse:
        path = "media.getMediaUrlRedirect"
        if not request.cookie(SESSION_COOKIE):
            return _trpc_error(401, "UNAUTHORIZED", -32001, path)
        core = self._core
        operation = core.book.get(request.query.get("name", ""))
        if operation is None or core.book.status(operation) is not Status.SUCCESSFUL:
            return _trpc_error(404, "NOT_FOUND", -32004, path)
        if core.wall() < operation.complete_at + core.config.url_lag_s:
            return _trpc_error(404, "NOT_FOUND", -32004, path)
        location = request.base_url + media_path(operation.media_name)
        return SimResponse(302, b"", "text/plain", (("Location", location),))
