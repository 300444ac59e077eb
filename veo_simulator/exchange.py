"""One HTTP exchange, free of sockets: the request the API sees and the response it gives back."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from veo_simulator.envelope import render_error
from veo_simulator.errors import ApiError

__all__ = ["JSON_TYPE", "SimRequest", "SimResponse"]

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class SimRequest:
    """A request: method, path without query, query parameters, lower-case headers, body."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = "http://127.0.0.1"

    @property
    def bearer(self) -> str:
        """The bearer token of ``Authorization``, or ``""``."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def cookie(self, name: str) -> str:
        """A cookie's value, or ``""``."""
        for part in self.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return ""


@dataclass
class SimResponse:
    """A response; ``wait_s`` is how long the HTTP layer holds it back before sending."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    wait_s: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> SimResponse:
        """A JSON answer."""
        return cls(status, json.dumps(payload).encode())

    @classmethod
    def error(cls, error: ApiError) -> SimResponse:
        """An error answer in Google's envelope."""
        return cls(error.http_status, render_error(error), headers=error.headers)
