"""docs/PROTOCOL.md stays true: its examples are messages this protocol reads, and its errors are the real ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from veo_protocol import (
    REQUEST_TYPES,
    ErrorCode,
    ProtocolError,
    decode_request,
    decode_server_message,
    encode_protocol_error,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
BLOCK = re.compile(r"```json( request)?\n(.*?)```", re.DOTALL)


def blocks(kind: str) -> list[str]:
    """Every JSON line of the doc's request blocks (kind "request") or of its other json blocks ("reply")."""
    text = DOC.read_text(encoding="utf-8")
    wanted = [body for request, body in BLOCK.findall(text) if bool(request) == (kind == "request")]
    return [line for body in wanted for line in body.splitlines() if line.strip()]


def test_every_request_example_decodes() -> None:
    """Each request example in the doc is a valid request, and every request type has one."""
    types = set()
    for line in blocks("request"):
        types.add(type(decode_request(line)).__struct_config__.tag)
    assert types == set(REQUEST_TYPES)


def test_every_reply_example_is_a_server_message() -> None:
    """Each reply, delta, error and captcha example in the doc is a message clients can decode."""
    lines = blocks("reply")
    assert len(lines) >= 25
    for line in lines:
        decode_server_message(line)


def test_every_error_code_and_close_code_is_documented() -> None:
    """The doc explains every error code and every close code."""
    text = DOC.read_text(encoding="utf-8")
    for code in ErrorCode:
        assert f"| `{code.value}` |" in text
    for close in ("1008", "1009", "1013"):
        assert f"| {close} |" in text


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "generat", "id": "r1"},
        {"type": "batch_generate", "id": "r2", "prompts": ["a", "b", "c", "x" * 10_001]},
        {"type": "generate", "id": "r3", "prompt": "a", "seed": "7"},
        {"type": "generate", "id": "r4", "prompt": "a", "colour": "red"},
        '{"type":"generate","id":"r1","prompt":"a",}',
    ],
)
def test_documented_error_examples_are_what_the_decoder_says(raw: dict[str, Any] | str) -> None:
    """The doc's sample error messages are the decoder's own words for those mistakes."""
    with pytest.raises(ProtocolError) as caught:
        decode_request(raw if isinstance(raw, str) else json.dumps(raw))
    produced = json.loads(encode_protocol_error(caught.value))
    documented = [json.loads(line) for line in blocks("reply")]
    assert produced in documented
