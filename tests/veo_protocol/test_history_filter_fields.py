"""get_history's optional filters (search, status, since, until): what they accept, and refusals naming the field."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from domain.values import Status
from veo_protocol import ErrorCode, GetHistory, ProtocolError, decode_request, encode_request


def decoded(**fields: Any) -> GetHistory:
    request = decode_request(json.dumps({"type": "get_history", "id": "h1", **fields}))
    assert isinstance(request, GetHistory)
    return request


def test_the_filters_decode_and_round_trip() -> None:
    """Every filter given is kept with its type; absent ones are None and stay out of the encoded frame."""
    request = decoded(search="Red Kite", status="completed", since="2025-06-01", until="2025-06-30", tz="Europe/Paris")
    assert (request.search, request.status) == ("Red Kite", Status.COMPLETED)
    assert (request.since, request.until) == (date(2025, 6, 1), date(2025, 6, 30))
    assert decode_request(encode_request(request)) == request
    plain = decoded()
    assert (plain.search, plain.status, plain.since, plain.until) == (None, None, None, None)
    assert json.loads(encode_request(plain)) == {"type": "get_history", "id": "h1"}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"search": ""}, "search", "1 to 200 characters"),
        ({"search": "x" * 201}, "search", "too long"),
        ({"search": 7}, "search", "1 to 200 characters"),
        ({"status": "done"}, "status", "one of 'pending', 'processing', 'completed', 'failed'"),
        ({"status": "COMPLETED"}, "status", "not 'COMPLETED'"),
        ({"since": "2025-13-01"}, "since", "YYYY-MM-DD"),
        ({"since": "yesterday"}, "since", "YYYY-MM-DD"),
        ({"until": "2025-06-01T00:00:00Z"}, "until", "YYYY-MM-DD"),
        ({"until": 20250601}, "until", "YYYY-MM-DD"),
    ],
)
def test_a_bad_filter_is_a_bad_message_naming_its_field(fields: dict[str, Any], field: str, words: str) -> None:
    """Each bad value is refused before the server reads anything, in words that say what was expected."""
    with pytest.raises(ProtocolError) as caught:
        decoded(**fields)
    error = caught.value
    assert (error.code, error.field, error.request_id) == (ErrorCode.BAD_MESSAGE, field, "h1")
    assert error.message.startswith(f"{field} must be ")
    assert words in error.message


def test_a_search_of_200_characters_is_accepted() -> None:
    """The limit itself is allowed."""
    assert decoded(search="y" * 200).search == "y" * 200
