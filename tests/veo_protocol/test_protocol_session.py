"""Decoding `provide_session`: its limits, and a session cookie never shown in reprs or error messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from veo_protocol import (
    MAX_SESSION_COOKIE_CHARS,
    SECRET_FIELDS,
    ErrorCode,
    ProtocolError,
    ProvideSession,
    decode_request,
    encode_protocol_error,
    encode_request,
)

COOKIE = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..SECRET-COOKIE.tail_-~"


def frame(**fields: Any) -> str:
    return json.dumps({"type": "provide_session", "id": "s1", **fields})


def rejected(raw: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode_request(raw)
    return caught.value


def test_a_session_cookie_decodes_and_encodes_back() -> None:
    """A provider's frame reads as ProvideSession; the client side writes the same frame."""
    request = decode_request(frame(profile_id="default", session_cookie=COOKIE))
    assert request == ProvideSession(id="s1", profile_id="default", session_cookie=COOKIE)
    assert decode_request(encode_request(request)) == request


@pytest.mark.parametrize(
    ("cookie", "ok"),
    [
        ("x", True),
        ("x" * MAX_SESSION_COOKIE_CHARS, True),
        ("x" * (MAX_SESSION_COOKIE_CHARS + 1), False),
        ("", False),
        ("a b", False),
        ("a;b", False),
        ("a,b", False),
        ('a"b', False),
        ("a\\b", False),
        ("a\r\nset-cookie: x", False),
        ("é", False),
    ],
)
def test_the_cookie_is_1_to_8192_cookie_characters(cookie: str, ok: bool) -> None:
    """Length bounds, and nothing that could end the cookie value in a Cookie header."""
    if ok:
        assert isinstance(decode_request(frame(profile_id="default", session_cookie=cookie)), ProvideSession)
    else:
        error = rejected(frame(profile_id="default", session_cookie=cookie))
        assert (error.code, error.field, error.request_id) == (ErrorCode.BAD_MESSAGE, "session_cookie", "s1")
        assert "1 to 8,192 characters" in error.message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"session_cookie": COOKIE}, "profile_id"),
        ({"profile_id": "default"}, "session_cookie"),
        ({"profile_id": "", "session_cookie": COOKIE}, "profile_id"),
        ({"profile_id": "a b", "session_cookie": COOKIE}, "profile_id"),
    ],
)
def test_both_fields_are_required_and_named_when_wrong(fields: dict[str, Any], field: str) -> None:
    """A missing or invalid profile_id or session_cookie is a bad_message naming that field."""
    error = rejected(frame(**fields))
    assert (error.code, error.field) == (ErrorCode.BAD_MESSAGE, field)


def test_the_cookie_is_a_secret_field() -> None:
    """session_cookie is listed with the other secrets, and a request's repr hides it."""
    assert "session_cookie" in SECRET_FIELDS
    request = ProvideSession(id="s1", profile_id="default", session_cookie=COOKIE)
    assert "SECRET" not in repr(request)
    assert "session_cookie='***'" in repr(request)


@pytest.mark.parametrize(
    "value",
    [
        "SECRET-COOKIE with a space",
        "SECRET-COOKIE;" + "x" * 10,
        "SECRET-COOKIE" * 1_000,
        ["SECRET-COOKIE"],
        {"SECRET-COOKIE": "SECRET-COOKIE"},
    ],
)
def test_a_bad_cookie_is_described_never_echoed(value: Any) -> None:
    """Whatever is wrong with the cookie, neither the message nor the error frame holds its value."""
    error = rejected(frame(profile_id="default", session_cookie=value))
    assert error.field == "session_cookie"
    assert "SECRET" not in error.message
    assert "SECRET" not in repr(error)
    assert b"SECRET" not in encode_protocol_error(error)


def test_an_unknown_field_next_to_a_cookie_does_not_echo_the_cookie() -> None:
    """A mistake elsewhere in the frame is explained without repeating the cookie."""
    error = rejected(frame(profile_id="default", session_cookie=COOKIE, extra=1))
    assert error.field == "extra"
    assert "SECRET" not in error.message
