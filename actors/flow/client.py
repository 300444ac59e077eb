"""FlowClient: Flow's private API, one HTTP request per method, no throttling and no retries."""

from __future__ import annotations

import http.cookiejar as http_cookiejar
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import httpx
import msgspec

from actors.flow.errors import (
    BadRequest,
    ContractRejected,
    MalformedResponse,
    Unauthenticated,
    UnreadableSubmission,
    error_from_response,
    error_from_transport,
    redact,
)
from actors.flow.interpret import SESSION_COOKIE, remote_statuses, session_cookie_from, submit_result
from actors.flow.models import (
    CancelRequest,
    ClientContext,
    CreditsResponse,
    GenerateItem,
    GenerateRequest,
    MediaGenerationContext,
    MediaQuery,
    MediaStatusRequest,
    OperationQuery,
    OperationRef,
    OperationsResponse,
    OperationsStatusRequest,
    RecaptchaContext,
    RequestMetadata,
    SessionResponse,
    TextInput,
    UpscaleItem,
    UpscaleRequest,
    VideoInput,
)
from actors.flow.values import (
    Credits,
    GenerateSpec,
    RemoteStatus,
    SessionTokens,
    StatusContract,
    StatusHandle,
    SubmitResult,
    UpscaleSpec,
)
from actors.profiles import Profile

__all__ = [
    "DEFAULT_FLOW_URL",
    "DEFAULT_LABS_URL",
    "SESSION_COOKIE",
    "FlowClient",
    "WallClock",
]

logger = logging.getLogger(__name__)

WallClock = Callable[[], float]
T = TypeVar("T")

DEFAULT_FLOW_URL = "https://aisandbox-pa.googleapis.com"
DEFAULT_LABS_URL = "https://labs.google"

GENERATE_PATH = "/v1/video:batchAsyncGenerateVideoText"
UPSCALE_PATH = "/v1/video:batchAsyncGenerateVideoUpsampleVideo"
STATUS_PATH = "/v1/video:batchCheckAsyncVideoGenerationStatus"
CREDITS_PATH = "/v1/credits"
CANCEL_PATH = "/v1/flowMedia:cancelGeneration"
SESSION_PATH = "/fx/api/auth/session"
MEDIA_URL_PATH = "/fx/api/trpc/media.getMediaUrlRedirect"

_ASPECT = {
    "landscape": "VIDEO_ASPECT_RATIO_LANDSCAPE",
    "portrait": "VIDEO_ASPECT_RATIO_PORTRAIT",
    "square": "VIDEO_ASPECT_RATIO_SQUARE",
}
_UPSCALE = {
    "1080p": ("VIDEO_RESOLUTION_1080P", "veo_3_1_upsampler_1080p"),
    "4k": ("VIDEO_RESOLUTION_4K", "veo_3_1_upsampler_4k"),
}

_OPERATIONS = msgspec.json.Decoder(OperationsResponse, strict=False)
_CREDITS = msgspec.json.Decoder(CreditsResponse, strict=False)
_SESSION = msgspec.json.Decoder(SessionResponse | None, strict=False)
_ENCODER = msgspec.json.Encoder()


class FlowClient:
    """Calls Flow and labs.google; every method sends exactly one request and raises FlowError.

    The shared ``httpx.Client`` is told to keep no cookies: each call sends its profile's own.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        flow_url: str = DEFAULT_FLOW_URL,
        labs_url: str = DEFAULT_LABS_URL,
        wall_clock: WallClock = time.time,
    ) -> None:
        self._http = http
        # The shared client must never remember one profile's session cookie and send it for another.
        http.cookies.jar.set_policy(http_cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._flow_url = flow_url.rstrip("/")
        self._labs_url = labs_url.rstrip("/")
        self._wall_clock = wall_clock

    # ---- paid submissions -------------------------------------------------------------------

    def generate(self, creds: Profile, spec: GenerateSpec, recaptcha_token: str | None) -> SubmitResult:
        """Submit one text-to-video generation (paid: never retried here)."""
        body = GenerateRequest(
            media_generation_context=MediaGenerationContext(batch_id=spec.batch_id or spec.scene_id),
            client_context=self._client_context(creds, recaptcha_token),
            requests=[
                GenerateItem(
                    aspect_ratio=_ASPECT[spec.aspect_ratio],
                    seed=spec.seed,
                    text_input=TextInput(prompt=spec.prompt),
                    video_model_key=spec.model,
                    metadata=RequestMetadata(scene_id=spec.scene_id),
                )
            ],
        )
        return self._submit(creds, GENERATE_PATH, body, spec.scene_id, "the generate request", recaptcha_token)

    def upscale(self, creds: Profile, spec: UpscaleSpec, recaptcha_token: str | None) -> SubmitResult:
        """Submit one upscale of a finished video (paid: never retried here)."""
        resolution, model = _UPSCALE[spec.resolution]
        body = UpscaleRequest(
            media_generation_context=MediaGenerationContext(batch_id=spec.batch_id or spec.scene_id),
            client_context=self._client_context(creds, recaptcha_token),
            requests=[
                UpscaleItem(
                    aspect_ratio=_ASPECT[spec.aspect_ratio],
                    resolution=resolution,
                    seed=spec.seed,
                    video_input=VideoInput(media_id=spec.source_media_id),
                    video_model_key=spec.model or model,
                    metadata=RequestMetadata(scene_id=spec.scene_id),
                )
            ],
        )
        return self._submit(creds, UPSCALE_PATH, body, spec.scene_id, "the upscale request", recaptcha_token)

    # ---- read-only and housekeeping calls -----------------------------------------------------

    def check_status(
        self, creds: Profile, handles: Sequence[StatusHandle], contract: StatusContract
    ) -> list[RemoteStatus]:
        """Check several jobs at once; jobs Flow leaves out of its answer are simply absent."""
        if not handles:
            raise ValueError("check_status needs at least one handle")
        body: OperationsStatusRequest | MediaStatusRequest
        if contract == "media":
            body = MediaStatusRequest(
                media=[MediaQuery(name=h.name_for("media"), project_id=creds.project_id) for h in handles]
            )
        else:
            body = OperationsStatusRequest(
                operations=[
                    OperationQuery(operation=OperationRef(name=h.operation_name), scene_id=h.scene_id, status=h.status)
                    for h in handles
                ]
            )
        what = f"the status check of {len(handles)} job(s)"
        try:
            response = self._call(
                "POST",
                self._flow_url + STATUS_PATH,
                what=what,
                headers=self._flow_headers(creds),
                content=_ENCODER.encode(body),
                secrets=creds.secrets(),
            )
        except BadRequest as exc:
            if type(exc) is not BadRequest or exc.http_status != 400:
                raise
            more = " or fewer jobs per check" if len(handles) > 1 else ""
            raise ContractRejected(
                f"Flow refused a status check of {len(handles)} job(s) under the {contract!r} contract "
                f"(400); try the other contract{more}.",
                contract=contract,
                handle_count=len(handles),
                flow_reason=exc.flow_reason,
                http_status=exc.http_status,
            ) from None
        decoded = self._decode(response, _OPERATIONS, what=what, submission=False)
        return remote_statuses(decoded, handles, contract)

    def credits(self, creds: Profile) -> Credits:
        """The account's remaining credits and tier (also a cheap token check)."""
        what = "the credits request"
        response = self._call(
            "GET",
            self._flow_url + CREDITS_PATH,
            what=what,
            headers=self._flow_headers(creds),
            secrets=creds.secrets(),
        )
        decoded = self._decode(response, _CREDITS, what=what, submission=False)
        return Credits(credits=decoded.credits, tier=decoded.user_paygate_tier)

    def cancel(self, creds: Profile, media_id: str) -> None:
        """Ask Flow to cancel a running generation; CannotCancel when it has already finished."""
        self._call(
            "POST",
            self._flow_url + CANCEL_PATH,
            what="the cancel request",
            headers=self._flow_headers(creds),
            content=_ENCODER.encode(CancelRequest(media_id=media_id)),
            secrets=creds.secrets(),
        )

    def fetch_access_token(self, session_cookie: str) -> SessionTokens:
        """Exchange the labs session cookie for an access token (and maybe a refreshed cookie)."""
        what = "the session refresh"
        response = self._call(
            "GET",
            self._labs_url + SESSION_PATH,
            what=what,
            headers={"cookie": f"{SESSION_COOKIE}={session_cookie}", "accept": "application/json"},
            secrets=(session_cookie,),
        )
        decoded = self._decode(response, _SESSION, what=what, submission=False) or SessionResponse()
        new_cookie = session_cookie_from(response)
        token = decoded.access_token if not decoded.error else None
        if not token and new_cookie is None:
            problem = decoded.error or "no access token in the session"
            raise Unauthenticated(
                f"The labs session gave no usable access token ({problem}); log in to labs.google again "
                "and update the profile's session cookie.",
                flow_reason=decoded.error,
                http_status=response.status_code,
            )
        return SessionTokens(
            access_token=token or None,
            session_cookie=new_cookie,
            expires=decoded.expires,
            refresh_needed=bool(decoded.error),
        )

    def refresh_bearer(self, creds: Profile) -> SessionTokens:
        """fetch_access_token with the profile's cookie; store what it gives in the profile (in memory)."""
        if not creds.session_cookie:
            raise Unauthenticated(f"Profile {creds.name!r} has no session cookie to refresh its token from.")
        used = creds.session_cookie
        tokens = self.fetch_access_token(used)
        if tokens.session_cookie and creds.session_cookie == used:  # not if a provider sent a newer one meanwhile
            creds.session_cookie = tokens.session_cookie
        if tokens.access_token:
            creds.bearer_token = tokens.access_token
        return tokens

    def resolve_video_url(self, creds: Profile, media_id: str) -> str | None:
        """The signed video URL of a finished media, or None while labs does not have it yet."""
        headers = {"accept": "application/json"}
        if creds.session_cookie:
            headers["cookie"] = f"{SESSION_COOKIE}={creds.session_cookie}"
        if creds.bearer_token:
            headers["authorization"] = f"Bearer {creds.bearer_token}"
        if len(headers) == 1:
            raise Unauthenticated(f"Profile {creds.name!r} has neither a session cookie nor a bearer token.")
        response = self._call(
            "GET",
            self._labs_url + MEDIA_URL_PATH,
            what="the video URL request",
            headers=headers,
            params={"name": media_id},
            secrets=creds.secrets(),
            accept=lambda s: 200 <= s < 400 or s == 404,
        )
        location = response.headers.get("location", "").strip()
        if not response.is_redirect or not location:
            return None
        return str(response.url.join(location))

    # ---- plumbing -------------------------------------------------------------------------------

    def _submit(
        self,
        creds: Profile,
        path: str,
        body: GenerateRequest | UpscaleRequest,
        scene_id: str,
        what: str,
        recaptcha_token: str | None,
    ) -> SubmitResult:
        response = self._call(
            "POST",
            self._flow_url + path,
            what=what,
            headers=self._flow_headers(creds),
            content=_ENCODER.encode(body),
            submission=True,
            secrets=(*creds.secrets(), recaptcha_token),
        )
        decoded = self._decode(response, _OPERATIONS, what=what, submission=True)
        return submit_result(decoded, scene_id, what)

    def _client_context(self, creds: Profile, recaptcha_token: str | None) -> ClientContext:
        return ClientContext(
            recaptcha_context=RecaptchaContext(token=recaptcha_token) if recaptcha_token else None,
            session_id=f";{int(self._wall_clock() * 1000)}",
            project_id=creds.project_id,
            tool="PINHOLE",
            user_paygate_tier=creds.tier,
        )

    def _flow_headers(self, creds: Profile) -> dict[str, str]:
        if not creds.bearer_token:
            raise Unauthenticated(f"Profile {creds.name!r} has no bearer token yet; refresh it from the session.")
        return {
            "authorization": f"Bearer {creds.bearer_token}",
            "content-type": "application/json",
            "accept": "application/json",
            "origin": "https://labs.google",
            "referer": "https://labs.google/",
        }

    def _call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: dict[str, str],
        secrets: Iterable[str | None],
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        submission: bool = False,
        accept: Callable[[int], bool] = lambda status: 200 <= status < 300,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, url, content=content, headers=headers, params=params, follow_redirects=False
            )
        except httpx.RequestError as exc:
            error = error_from_transport(exc, what=what, submission=submission)
            logger.info("%s failed before an answer (%s): %s", what, type(exc).__name__, error.reason)
            raise error from None
        logger.debug("%s answered HTTP %d", what, response.status_code)
        if not accept(response.status_code):
            error = error_from_response(
                response, what=what, submission=submission, now=self._wall_clock(), secrets=secrets
            )
            logger.info("%s failed: HTTP %d, %s", what, response.status_code, error.reason)
            raise error
        return response

    def _decode(self, response: httpx.Response, decoder: msgspec.json.Decoder[T], *, what: str, submission: bool) -> T:
        try:
            return decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            problem = redact(str(exc))[:200]
            if submission:
                raise UnreadableSubmission(
                    f"Flow accepted {what} (HTTP {response.status_code}) but its answer could not be read "
                    f"({problem}); Flow may have started it. It is not resent: check Flow, then retry "
                    "explicitly if nothing appeared.",
                    http_status=response.status_code,
                ) from None
            raise MalformedResponse(
                f"Flow's answer to {what} could not be read ({problem}).", http_status=response.status_code
            ) from None
