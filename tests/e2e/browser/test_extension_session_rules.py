"""The session bridge's pure rules in extension/session.js and settings.js, run by Node: which cookies make
the session (chunks joined in order), and when a cookie may be sent at all. Skipped where `node` is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

EXTENSION = Path(__file__).resolve().parents[3] / "extension"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")
NAME = "__Secure-next-auth.session-token"
SETTINGS = {"relayUrl": "wss://relay.example/ws", "profileId": "default", "labsPattern": "https://labs.google/*"}


def call(function: str, *args: Any) -> Any:
    """`function(*args)` from the extension's modules, evaluated by Node; its JSON result."""
    script = (
        f"import {{ joinSession, isSessionCookie }} from {json.dumps((EXTENSION / 'session.js').as_uri())};\n"
        f"import {{ sessionProblem, sessionHost }} from {json.dumps((EXTENSION / 'settings.js').as_uri())};\n"
        f"process.stdout.write(JSON.stringify({function}(...{json.dumps(args)})));\n"
    )
    assert NODE is not None
    command = [NODE, "--input-type=module", "-e", script]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cookie(suffix: str, value: str) -> dict[str, str]:
    return {"name": NAME + suffix, "value": value}


def test_the_whole_cookie_wins_over_chunks() -> None:
    """An unchunked session cookie is the session, whatever chunks lie around."""
    assert call("joinSession", [cookie(".0", "A"), cookie("", "WHOLE")]) == "WHOLE"


def test_chunks_are_joined_in_numeric_order_up_to_the_first_gap() -> None:
    """.0, .1, ... .10 in numeric order; a chunk after a gap is not part of the session."""
    chunks = [cookie(f".{i}", chr(ord("a") + i)) for i in (10, 2, 0, 1, 9, 8, 7, 6, 5, 4, 3, 12)]
    assert call("joinSession", chunks) == "abcdefghijk"
    assert call("joinSession", [cookie(".1", "B")]) == ""
    assert call("joinSession", [{"name": "other", "value": "x"}]) == ""


@pytest.mark.parametrize(
    ("name", "is_session"),
    [(NAME, True), (NAME + ".0", True), (NAME + ".12", True), (NAME + ".", False), (NAME + "x", False), ("x", False)],
)
def test_which_cookie_names_are_the_session(name: str, is_session: bool) -> None:
    """The session cookie and its numbered chunks, nothing else."""
    assert call("isSessionCookie", name) is is_session


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({}, ""),
        ({"relayUrl": "ws://127.0.0.1:8765/ws"}, ""),
        ({"relayUrl": "ws://localhost:8765/ws"}, ""),
        ({"relayUrl": "ws://relay.example/ws"}, "never travels unencrypted"),
        ({"relayUrl": "ws://192.168.1.5:8765/ws"}, "never travels unencrypted"),
        ({"profileId": ""}, "set the profile"),
        ({"labsPattern": "https://*/*"}, "no single host"),
    ],
)
def test_a_cookie_goes_only_over_wss_or_loopback_and_for_one_profile(change: dict[str, str], words: str) -> None:
    """sessionProblem is empty when sending is allowed, else says why not."""
    problem = call("sessionProblem", SETTINGS | change)
    assert (words in problem) if words else problem == ""


def test_the_cookie_host_is_the_labs_patterns_host() -> None:
    """`*.example.com` reads example.com's cookie; the shipped pattern reads labs.google's."""
    assert call("sessionHost", "https://labs.google/*") == "labs.google"
    assert call("sessionHost", "https://*.example.com/*") == "example.com"
