"""Fixtures for the Gemini client tests: a respx router, a client and a Gemini profile with a fake key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from actors.flow import StatusHandle
from actors.gemini import GeminiClient
from actors.profiles import Profile

API = "https://gemini.test"
KEY = "AIzaSyA-fake-secret-key-0123456789abcdef"
MODEL = "veo-3.1-fast-generate-preview"
OPERATION = f"models/{MODEL}/operations/op123"
PREDICT = f"{API}/v1beta/models/{MODEL}:predictLongRunning"
STATUS = f"{API}/v1beta/{OPERATION}"
HANDLE = StatusHandle(operation_name=OPERATION)


def envelope(code: int, status: str, reason: str | None = None, message: str = "m", **extra: Any) -> dict[str, Any]:
    """Google's RPC error envelope, with an ErrorInfo reason and any further details."""
    details: list[dict[str, Any]] = []
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason})
    if "retry_delay" in extra:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": extra["retry_delay"]})
    if "quota_id" in extra:
        violation = {"quotaId": extra["quota_id"], "quotaMetric": "generativelanguage.googleapis.com/x"}
        details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]})
    return {"error": {"code": code, "message": message, "status": status, "details": details}}


@pytest.fixture
def profile() -> Profile:
    return Profile(name="gem", backend="gemini", api_key=KEY, base_url=API, model=MODEL)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def client(router: respx.MockRouter) -> Iterator[GeminiClient]:
    with httpx.Client() as http:
        yield GeminiClient(http)
