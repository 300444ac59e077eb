"""Plain HTTP on the websocket port: authentication of `/ws`, `/healthz`, `/metrics`, the dashboard, and the
kept videos at `/videos/ID` (same token as `/ws`; `server.video_route`)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.video_route import VideoRoute

__all__ = ["HttpFront"]

logger = logging.getLogger(__name__)

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}


def _response(status: int, body: bytes, content_type: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *extra,
        ]
    )
    reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "")
    return Response(status, reason, headers, body)


class HttpFront:
    """The `process_request` hook of the websockets server."""

    def __init__(
        self,
        token: str,
        metrics: Callable[[], str],
        origins: Callable[[], set[str]],
        videos: VideoRoute | None = None,
    ) -> None:
        self.token = token
        self.metrics = metrics
        self.origins = origins
        self.videos = videos

    def __call__(self, connection: ServerConnection, request: Request) -> Response | Awaitable[Response] | None:
        path = urlsplit(request.path)
        if path.path.startswith("/videos/") and self.videos is not None:
            supplied = self._token_of(request, path.query)
            if supplied is None or not hmac.compare_digest(supplied.encode(), self.token.encode()):
                return _response(401, b"missing or wrong token\n", "text/plain; charset=utf-8")
            return self.videos.respond(path.path.removeprefix("/videos/"), request.headers.get("Range"))
        if path.path == "/ws":
            origin = request.headers.get("Origin")
            if origin is not None and origin not in self.origins():
                return _response(403, f"origin {origin} is not allowed\n".encode(), "text/plain; charset=utf-8")
            supplied = self._token_of(request, path.query)
            if supplied is None or not hmac.compare_digest(supplied.encode(), self.token.encode()):
                return _response(401, b"missing or wrong token\n", "text/plain; charset=utf-8")
            return None
        if path.path == "/healthz":
            return _response(200, b"ok\n", "text/plain; charset=utf-8")
        if path.path == "/metrics":
            return _response(200, self.metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
        return self._static(path.path)

    @staticmethod
    def _token_of(request: Request, query: str) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip()
        values = parse_qs(query).get("token")
        return values[0] if values else None

    @staticmethod
    def _static(path: str) -> Response:
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        if "/" in name or name.startswith("."):
            return _response(404, b"not found\n", "text/plain; charset=utf-8")
        resource = resources.files("server").joinpath("static", name)
        if not resource.is_file():
            return _response(404, b"not found\n", "text/plain; charset=utf-8")
        suffix = name[name.rfind(".") :]
        csp = (
            "Content-Security-Policy",
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: http: https:; "
            "media-src http: https:",
        )
        return _response(200, resource.read_bytes(), _TYPES.get(suffix, "application/octet-stream"), (csp,))
