"""The dashboard's page policy: its CSP forbids framing, `<base>`, foreign form targets and websockets to other
hosts; a row's `video_url` is shown only at an address that cannot hurt (`videoAddress` in rows.js, run by Node)."""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.access import Keys
from server.host_check import HostCheck
from server.http_front import HttpFront
from tests.server.static_js import NEEDS_NODE, call_each

HERE = "http://127.0.0.1:8765/"


def policy(path: str, host: str = "127.0.0.1:8765") -> dict[str, str]:
    front = HttpFront(Keys("t", "p"), lambda: "", set, HostCheck("127.0.0.1", lambda: 8765), lambda: 0, 10)
    response = front(None, Request(path, Headers([("Host", host)])))  # type: ignore[arg-type]
    assert isinstance(response, Response) and response.status_code == 200
    directives = (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return {pair[0]: pair[1] for pair in directives}


@pytest.mark.parametrize("path", ["/", "/app.js", "/app.css"])
def test_the_csp_forbids_framing_base_foreign_forms_and_foreign_websockets(path: str) -> None:
    csp = policy(path)
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert csp["connect-src"].split() == ["'self'", "ws://127.0.0.1:8765", "wss://127.0.0.1:8765"]
    assert "http:" not in csp["media-src"].split()
    assert "'unsafe-inline'" not in csp["default-src"]


def test_on_an_ipv6_address_websockets_are_limited_by_self() -> None:
    """CSP has no syntax for IPv6 literals: `'self'` alone (which covers ws: to the page's own host)."""
    assert policy("/", "[::1]:8765")["connect-src"] == "'self'"


def addresses(urls: list[str], here: str) -> list[str | None]:
    """`videoAddress(url, new URL(here))` for each url, evaluated by Node."""
    return call_each("rows.js", "videoAddress", urls, f"new URL({json.dumps(here)})")


@NEEDS_NODE
def test_a_video_url_is_shown_only_at_a_harmless_address() -> None:
    shown = [
        "https://storage.googleapis.com/v/1.mp4?sig=x",
        "/videos/11111111-2222-3333-4444-555555555555",
        "http://127.0.0.1:8765/videos/g1",
        "http://127.0.0.1:41234/fake-video/op.mp4",
    ]
    hidden = [
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://evil.example/x.mp4",
        "http://127.0.0.1.evil.example/x.mp4",
        "https://user:pass@evil.example/x.mp4",
        "file:///etc/passwd",
        "blob:http://127.0.0.1:8765/x",
        "http://[not-an-address/x.mp4",
        "https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media",  # needs the API key
        "http://127.0.0.1:41234/v1beta/files/abc123:download?alt=media",  # the simulator's Gemini mode
    ]
    assert all(address is not None for address in addresses(shown, HERE))
    assert addresses(hidden, HERE) == [None] * len(hidden)


@NEEDS_NODE
def test_plain_http_videos_are_hidden_once_the_dashboard_is_not_on_loopback() -> None:
    """Served to the network, the dashboard loads no plain-http video, even a loopback one."""
    assert addresses(["http://127.0.0.1:41234/v.mp4", "http://relay.lan:8765/videos/g1"], "https://relay.lan/") == [
        None,
        None,
    ]
    assert addresses(["https://relay.lan/videos/g1"], "https://relay.lan/") == ["https://relay.lan/videos/g1"]
