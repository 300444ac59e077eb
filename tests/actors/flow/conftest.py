"""Fixtures for the Flow client tests: a respx router, a client and a profile with fake secrets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from actors.flow import FlowClient
from actors.profiles import Profile

FLOW = "https://flow.test"
LABS = "https://labs.test"
BEARER = "ya29.a0-secret-bearer-value-111"
COOKIE = "secret-session-cookie-value-222"
RECAPTCHA = "secret-recaptcha-token-333"
SECRETS = (BEARER, COOKIE, RECAPTCHA)
WALL_CLOCK = 1_761_745_563.370


def envelope(code: int, status: str, reason: str | None = None, message: str = "m") -> dict[str, Any]:
    """Google's RPC error envelope."""
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}] if reason else []
    return {"error": {"code": code, "message": message, "status": status, "details": details}}


@pytest.fixture
def profile() -> Profile:
    return Profile(name="main", project_id="proj-1", bearer_token=BEARER, session_cookie=COOKIE)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def client(router: respx.MockRouter) -> Iterator[FlowClient]:
    with httpx.Client() as http:
        yield FlowClient(http, flow_url=FLOW, labs_url=LABS, wall_clock=lambda: WALL_CLOCK)
