"""docs/PROTOCOL.md stays true: its examples are messages this protocol reads, and its errors are the real ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from msgspec import inspect

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


LIMIT_ROW = re.compile(r"^\| (`.*?) \| (\d[\d,]*) characters", re.MULTILINE)
CARRIERS: dict[str, tuple[str, dict[str, Any], str]] = {
    # field: (a request type that carries it, its other required fields, a character the field accepts)
    "id": ("queue_status", {}, "i"),
    "request_id": ("provide_captcha_token", {"token": "t"}, "r"),
    "request_key": ("generate", {"prompt": "p"}, "k"),
    "prompt": ("generate", {}, "p"),
    "profile_id": ("generate", {"prompt": "p"}, "p"),
    "model": ("generate", {"prompt": "p"}, "m"),
    "recaptcha_token": ("generate", {"prompt": "p"}, "t"),
    "token": ("provide_captcha_token", {"request_id": "c"}, "t"),
    "session_cookie": ("provide_session", {"profile_id": "p"}, "c"),
    "search": ("get_history", {}, "s"),
    "before": ("get_history", {}, "b"),
    "tz": ("get_history", {}, "Z"),
    "nonce": ("register_provider", {}, "n"),
    "relay_nonce": ("register_provider", {"nonce": "n" * 22}, "n"),
}


def test_the_limits_table_gives_each_string_fields_real_limit() -> None:
    """Each field of the doc's Limits table takes a value of its documented length and refuses one longer."""
    text = DOC.read_text(encoding="utf-8")
    limits = {
        name: int(limit.replace(",", ""))
        for names, limit in LIMIT_ROW.findall(text)
        for name in re.findall(r"`(\w+)`", names.split(";")[0])
    }
    limits.pop("prompts")  # each of `prompts`: a prompt's limit, checked as `prompt`
    assert set(limits) == set(CARRIERS)
    for name, limit in limits.items():
        type_, fields, char = CARRIERS[name]
        for length, ok in ((limit, True), (limit + 1, False)):
            message = {"type": type_, "id": "r1", **fields, name: char * length}
            if ok:
                assert isinstance(decode_request(json.dumps(message)), REQUEST_TYPES[type_]), name
            else:
                with pytest.raises(ProtocolError) as refused:
                    decode_request(json.dumps(message))
                assert refused.value.field == name
                assert f"{limit:,}" in refused.value.message, refused.value.message


LIST_ROW = re.compile(r"^\| `(\w+)` \((.*?)\) \| (\d[\d,]*) items", re.MULTILINE)


def list_caps() -> dict[tuple[str, str], int | None]:
    """(request type, field) of every list field of every request, and its item cap (None: none)."""
    caps: dict[tuple[str, str], int | None] = {}
    for tag, request_type in REQUEST_TYPES.items():
        info = inspect.type_info(request_type)
        assert isinstance(info, inspect.StructType)
        for field in info.fields:
            kind = field.type
            if isinstance(kind, inspect.UnionType):  # an optional list
                kind = next(t for t in kind.types if not isinstance(t, inspect.NoneType))
            if isinstance(kind, inspect.ListType):
                caps[(tag, field.name)] = kind.max_length
    return caps


def test_every_list_field_has_the_item_cap_the_limits_table_gives() -> None:
    """No list of a request is unbounded (`subscribe.channels` was: a 1 MiB frame carried tens of thousands of
    names), and the doc's Limits table gives each one's cap, which the decoder refuses one past with the cap."""
    text = DOC.read_text(encoding="utf-8")
    documented = {
        (tag, name): int(limit.replace(",", ""))
        for name, tags, limit in LIST_ROW.findall(text)
        for tag in re.findall(r"`(\w+)`", tags)
    }
    assert list_caps() == documented
    for (tag, name), cap in documented.items():
        item = {"prompts": "p", "generation_ids": "0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00"}.get(name, "batch:progress")
        with pytest.raises(ProtocolError) as refused:
            decode_request(json.dumps({"type": tag, "id": "r1", name: [item] * (cap + 1)}))
        assert (refused.value.code, refused.value.field) == (ErrorCode.BAD_MESSAGE, name)
        assert f"1 to {cap:,} items" in refused.value.message, refused.value.message
