"""GeminiClient: Veo through the Gemini API, one HTTP request per method, no throttling and no retries."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Final
from urllib.parse import urlsplit

import httpx
import msgspec

from actors.flow.values import GenerateSpec, RemoteStatus, StatusHandle, SubmitResult, UpscaleSpec
from actors.gemini.errors import (
    MalformedResponse,
    NotSupported,
    UnreadableSubmission,
    error_from_response,
    error_from_transport,
    redact,
)
from actors.gemini.interpret import remote_status, submit_result
from actors.gemini.models import Instance, Operation, Parameters, PredictRequest
from actors.profiles import Profile

__all__ = ["KEY_HEADER", "STATUS_BATCH", "GeminiClient", "is_api_url", "refusal"]

logger = logging.getLogger(__name__)

KEY_HEADER: Final = "x-goog-api-key"
STATUS_BATCH: Final = 1
"""Operations one status check may carry: the Gemini API has no batch endpoint."""
_ASPECT = {"landscape": "16:9", "portrait": "9:16"}
_OPERATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9._\-]+)*")
_MAX_REDIRECTS = 5
_DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_OPERATION = msgspec.json.Decoder(Operation, strict=False)
_ENCODER = msgspec.json.Encoder()


def refusal(spec: GenerateSpec | UpscaleSpec) -> str | None:
    """Why the Gemini API cannot take this job (None: it can), said before anything is sent."""
    if isinstance(spec, UpscaleSpec):
        return "Upscaling is a Flow feature: a video made through the Gemini API cannot be upscaled by the relay."
    if spec.aspect_ratio not in _ASPECT:
        return f"The Gemini API makes only landscape (16:9) and portrait (9:16) videos, not {spec.aspect_ratio}."
    return None


def is_api_url(url: str, profile: Profile) -> bool:
    """Whether `url` is on the profile's API host (a download there needs the key and counts in the budget)."""
    return _origin(url) == _origin(profile.base_url)


class GeminiClient:
    """Calls the Gemini API with each profile's key in the `x-goog-api-key` header (never in a URL)."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def generate(self, profile: Profile, spec: GenerateSpec | UpscaleSpec) -> SubmitResult:
        """`predictLongRunning` of one text-to-video generation (paid: never retried here)."""
        problem = refusal(spec)
        if problem is not None or isinstance(spec, UpscaleSpec):
            raise NotSupported(problem or "")
        what = "the generate request"
        body = PredictRequest(
            instances=[Instance(prompt=spec.prompt)], parameters=Parameters(aspect_ratio=_ASPECT[spec.aspect_ratio])
        )
        url = f"{profile.base_url}/v1beta/models/{profile.model}:predictLongRunning"
        response = self._call("POST", url, profile, what=what, content=_ENCODER.encode(body), submission=True)
        try:
            operation = _OPERATION.decode(response.content)
        except msgspec.DecodeError as exc:
            raise UnreadableSubmission(
                f"The Gemini API accepted {what} (HTTP {response.status_code}) but its answer could not be read "
                f"({redact(str(exc), profile.secrets())[:200]}); it may have started it. It is not resent: look "
                "for it in the API's usage, then retry the generation explicitly if nothing appeared.",
                http_status=response.status_code,
            ) from None
        return submit_result(operation, what)

    def check_status(self, profile: Profile, handles: Iterable[StatusHandle]) -> list[RemoteStatus]:
        """`GET /v1beta/{name}` of the one operation named (the API checks one per request)."""
        (handle,) = handles
        name = handle.operation_name
        if not _OPERATION_NAME.fullmatch(name) or ".." in name:
            raise MalformedResponse(f"Not a Gemini operation name: {name[:100]!r}.")
        what = "the status check"
        response = self._call("GET", f"{profile.base_url}/v1beta/{name}", profile, what=what)
        try:
            operation = _OPERATION.decode(response.content)
        except msgspec.DecodeError as exc:
            raise MalformedResponse(
                f"The Gemini API's answer to {what} could not be read ({redact(str(exc), profile.secrets())[:200]}).",
                http_status=response.status_code,
            ) from None
        return [remote_status(operation, handle, profile.secrets())]

    @contextlib.contextmanager
    def download(self, profile: Profile, url: str) -> Iterator[httpx.Response]:
        """A streamed GET of a video: the key goes only to the profile's API host; redirects are followed
        without it (to storage hosts)."""
        for _ in range(_MAX_REDIRECTS + 1):
            headers = {KEY_HEADER: profile.api_key or ""} if is_api_url(url, profile) else {}
            with self._http.stream("GET", url, headers=headers, timeout=_DOWNLOAD_TIMEOUT) as response:
                location = response.headers.get("location", "").strip()
                if not (response.is_redirect and location):
                    yield response
                    return
                url = str(response.url.join(location))
        raise httpx.TooManyRedirects("too many redirects downloading a Gemini video", request=None)

    def _call(
        self,
        method: str,
        url: str,
        profile: Profile,
        *,
        what: str,
        content: bytes | None = None,
        submission: bool = False,
    ) -> httpx.Response:
        headers = {KEY_HEADER: profile.api_key or "", "content-type": "application/json", "accept": "application/json"}
        try:
            response = self._http.request(method, url, content=content, headers=headers, follow_redirects=False)
        except httpx.RequestError as exc:
            error = error_from_transport(exc, what=what, submission=submission)
            logger.info("%s of profile %s failed before an answer (%s)", what, profile.name, type(exc).__name__)
            raise error from None
        logger.debug("%s answered HTTP %d", what, response.status_code)
        if not 200 <= response.status_code < 300:
            error = error_from_response(response, what=what, submission=submission, secrets=profile.secrets())
            logger.info("%s of profile %s failed: HTTP %d, %s", what, profile.name, response.status_code, error.reason)
            raise error
        return response


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
