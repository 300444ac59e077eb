"""Talking to the simulator the way a Gemini API client would (flow-api.md §6), with plain httpx."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["KEY", "MODEL", "OTHER_KEY", "check", "download", "predict", "predict_path", "video_body"]

KEY = "AIzaSy-simulated-key-0001"
OTHER_KEY = "AIzaSy-simulated-key-0002"
MODEL = "veo-3.1-fast-generate-preview"


def predict_path(model: str = MODEL) -> str:
    """``/v1beta/models/{model}:predictLongRunning``."""
    return f"/v1beta/models/{model}:predictLongRunning"


def video_body(prompt: str = "a fox in the snow", **parameters: Any) -> dict[str, Any]:
    """A predictLongRunning body with one instance and the given parameters."""
    return {"instances": [{"prompt": prompt}], "parameters": {"aspectRatio": "16:9", **parameters}}


def predict(client: httpx.Client, body: Any = None, key: str = KEY, model: str = MODEL) -> httpx.Response:
    """Start a generation with the key in ``x-goog-api-key``."""
    return client.post(predict_path(model), json=video_body() if body is None else body, headers=_key(key))


def check(client: httpx.Client, name: str, key: str = KEY) -> httpx.Response:
    """``GET /v1beta/{name}`` with the key in the header."""
    return client.get(f"/v1beta/{name}", headers=_key(key))


def download(client: httpx.Client, uri: str, key: str = KEY, follow: bool = True) -> httpx.Response:
    """Fetch a video uri with the key in the header, following redirects unless told not to."""
    return client.get(uri, headers=_key(key), follow_redirects=follow)


def _key(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key} if key else {}
