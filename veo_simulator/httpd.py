"""The HTTP layer: a threading HTTP/1.1 server on loopback that hands each request to the API."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from veo_simulator.envelope import bad_request, internal
from veo_simulator.errors import ApiError
from veo_simulator.exchange import SimRequest, SimResponse

__all__ = ["SimHTTPServer"]

logger = logging.getLogger(__name__)

Api = Callable[[SimRequest], SimResponse]
_IDLE_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 1 << 20
"""Longer request bodies are refused (413) unread: no Flow request comes near it."""


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the API, holds the answer back if told to, writes it."""

    server: SimHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK adds ~40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(SimResponse.error(bad_request("A Content-Length body is required.")))
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            too_long = ApiError(413, "INVALID_ARGUMENT", f"The request body is over {MAX_BODY_BYTES} bytes.")
            self._send(SimResponse.error(too_long))
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        host = self.headers.get("Host") or f"{self.server.host}:{self.server.port}"
        request = SimRequest(
            method=self.command,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query)),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )
        try:
            response = self.server.api(request)
        except Exception:
            logger.exception("simulator failed answering %s %s", self.command, parts.path)
            response = SimResponse.error(internal())
        if response.wait_s > 0:
            self.server.stopping.wait(response.wait_s)
        self._send(response)

    def _send(self, response: SimResponse) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.server.stopping.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:
            logger.debug("client went away before the answer to %s was sent", urlsplit(self.path).path)
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log the method and the path without its query: a Gemini API key may ride in ``?key=``."""
        logger.debug("%s %s %s %s", self.address_string(), self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class SimHTTPServer(ThreadingHTTPServer):
    """One daemon thread per connection; stop() ends holds, closes connections and joins the threads."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, api: Api) -> None:
        self.api = api
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        super().__init__((host, port), _Handler)
        self.host, self.port = str(self.server_address[0]), int(self.server_address[1])

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer.server_bind`` does."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a tracked daemon thread."""
        thread = threading.Thread(target=self._work, args=(request, client_address), name="simulator-http", daemon=True)
        with self._lock:
            self._workers.add(thread)
        thread.start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection failed (usually the client hung up): log quietly."""
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection so that stop() can close it."""
        with self._lock:
            self._connections.add(connection)
        if self.stopping.is_set():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a closed connection."""
        with self._lock:
            self._connections.discard(connection)

    def close(self, join_timeout: float = 5.0) -> None:
        """Stop serving: release held answers, close every connection and the socket, join threads."""
        self.stopping.set()
        self.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(join_timeout)
            if worker.is_alive():
                logger.warning("simulator connection thread %s did not stop", worker.name)
