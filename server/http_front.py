"""Plain HTTP on the websocket port: the Host check, authentication and capacity of `/ws`, `/healthz`, `/metrics`,
the dashboard's files, and the kept videos at `/videos/ID` (the client token, as for `/ws`; `server.video_route`)
(docs/SECURITY.md)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from importlib import resources
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.access import Access, Keys, access_of
from server.host_check import HostCheck
from server.video_route import VideoRoute

__all__ = ["HttpFront"]

logger = logging.getLogger(__name__)

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}


_CSP = (
    "default-src 'self'; img-src 'self' data: http: https:; "
    "media-src 'self' https: http://127.0.0.1:* http://localhost:*; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; connect-src 'self'{websockets}"
)
"""The dashboard's policy: no framing (clickjacking), no <base> or foreign form targets, websockets only to this
server, videos as `videoAddress` in rows.js allows (CSP has no syntax for IPv6 addresses: `'self'` covers them)."""


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
    return Response(status, HTTPStatus(status).phrase, headers, body)


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The dashboard's files by request path, read once: only these exact paths are served (no path is ever
    joined to a folder, so `..`, `\\`, `C:` or percent-escapes cannot reach another file)."""
    folder = resources.files("server").joinpath("static")
    files: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            suffix = entry.name[entry.name.rfind(".") :]
            content_type = _TYPES.get(suffix, "application/octet-stream")
            files[f"/{entry.name}"] = (entry.read_bytes(), content_type)
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


class HttpFront:
    """The `process_request` hook of the websockets server."""

    def __init__(
        self,
        keys: Keys,
        metrics: Callable[[], str],
        origins: Callable[[], set[str]],
        hosts: HostCheck,
        connections: Callable[[], int],
        max_connections: int,
        videos: VideoRoute | None = None,
    ) -> None:
        self.keys = keys
        self.hosts = hosts
        self.connections = connections
        self.max_connections = max_connections
        self.metrics = metrics
        self.origins = origins
        self.videos = videos
        self.files = _static_files()

    def __call__(self, connection: ServerConnection, request: Request) -> Response | Awaitable[Response] | None:
        refused = self.hosts.refusal(request.headers.get("Host"))
        if refused is not None:
            return _response(refused[0], refused[1].encode(), "text/plain; charset=utf-8")
        path = urlsplit(request.path)
        if path.path.startswith("/videos/") and self.videos is not None:
            if access_of(self.keys, request) is not Access.CLIENT:  # the provider token only provides tokens
                return _response(401, b"missing or wrong token\n", "text/plain; charset=utf-8")
            return self.videos.respond(path.path.removeprefix("/videos/"), request.headers.get("Range"))
        if path.path == "/ws":
            origin = request.headers.get("Origin")
            if origin is not None and origin not in self.origins():
                return _response(403, f"origin {origin} is not allowed\n".encode(), "text/plain; charset=utf-8")
            if access_of(self.keys, request) is None:
                return _response(401, b"missing or wrong token\n", "text/plain; charset=utf-8")
            if self.connections() >= self.max_connections:
                logger.warning("refused a websocket: %d connections are open, the most allowed", self.max_connections)
                text = f"the relay has its maximum of {self.max_connections} open connections; try again later\n"
                return _response(503, text.encode(), "text/plain; charset=utf-8", (("Retry-After", "5"),))
            return None
        if path.path == "/healthz":
            return _response(200, b"ok\n", "text/plain; charset=utf-8")
        if path.path == "/metrics":
            return _response(200, self.metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
        return self._static(path.path, request.headers["Host"])

    def _static(self, path: str, host: str) -> Response:
        found = self.files.get(path)
        if found is None:
            return _response(404, b"not found\n", "text/plain; charset=utf-8")
        body, content_type = found
        # The Host is already checked to name this server.
        websockets = "" if host.startswith("[") else f" ws://{host} wss://{host}"
        policy = ("Content-Security-Policy", _CSP.format(websockets=websockets))
        return _response(200, body, content_type, (policy, ("X-Frame-Options", "DENY")))
