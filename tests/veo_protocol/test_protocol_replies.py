"""Server messages: results, errors, spliced deltas and their batches, captcha requests, and the client decoder."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.rows import BatchRow, HistoryRow
from veo_protocol import (
    CLOSE_FRAME_TOO_LARGE,
    CLOSE_POLICY_VIOLATION,
    CLOSE_REASONS,
    CLOSE_TOO_FAR_BEHIND,
    MAX_FRAME_BYTES,
    CaptchaRequest,
    Channel,
    DeltaMessage,
    DeltasMessage,
    ErrorCode,
    ErrorReply,
    ProtocolError,
    Result,
    decode_server_message,
    encode_captcha_request,
    encode_delta,
    encode_deltas,
    encode_error,
    encode_message,
    encode_protocol_error,
    encode_result,
)

ROW = HistoryRow(
    id="0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00",
    job_type="generation",
    status="pending",
    prompt='a "quoted" cat \\ on a mat \u2028',
    model="veo_3_1_t2v_fast",
    aspect_ratio="landscape",
    priority="normal",
    profile_id="default",
    created_at="2025-01-02T03:04:05.678Z",
    updated_at="2025-01-02T03:04:05.678Z",
)
TRICKY_CHANNELS = ['a"b', "back\\slash", "new\nline", "\x00\x1f", "\u2028\u2029", "😀 é", "</script>", ""]
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
positions = st.integers(0, 2**63 - 1)


def test_result_frame_has_the_contract_shape() -> None:
    """A result carries type, id, ok:true, data and position, in that order."""
    raw = encode_result("r1", {"generation_id": "g", "created": True}, 17)
    assert raw == b'{"type":"result","id":"r1","ok":true,"data":{"generation_id":"g","created":true},"position":17}'


@pytest.mark.parametrize(
    "data",
    [
        ROW,
        [ROW, ROW],
        {"groups": [{"date": "2025-01-02", "items": [ROW]}], "next": None},
        BatchRow(batch_id="b", total=2, created_at="t", updated_at="t"),
        None,
        [],
        UUID("0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00"),
    ],
)
def test_result_data_may_be_any_encodable_object(data: object) -> None:
    """Structs, dicts, lists and UUIDs are encoded as msgspec would encode them on their own."""
    parsed = json.loads(encode_result("r1", data, 3))
    assert parsed == {"type": "result", "id": "r1", "ok": True, "data": msgspec.to_builtins(data), "position": 3}


def test_result_data_given_as_bytes_is_spliced_as_json() -> None:
    """Already-encoded JSON bytes are placed in the frame as they are, never base64-encoded."""
    row_json = msgspec.json.encode(ROW)
    raw = encode_result("r1", row_json, 5)
    assert json.loads(raw)["data"] == json.loads(row_json)
    assert row_json in raw


def test_error_frame_leaves_out_an_absent_field_and_keeps_a_null_id() -> None:
    """`field` appears only when given; `id` is always present, null when unknown."""
    assert json.loads(encode_error(None, ErrorCode.BAD_JSON, "not JSON")) == {
        "type": "error",
        "id": None,
        "code": "bad_json",
        "message": "not JSON",
    }
    assert json.loads(encode_error("r1", ErrorCode.BAD_MESSAGE, "prompt is required", "prompt")) == {
        "type": "error",
        "id": "r1",
        "code": "bad_message",
        "message": "prompt is required",
        "field": "prompt",
    }


def test_protocol_error_encodes_as_its_error_frame() -> None:
    """A ProtocolError becomes the error frame with its code, message, field and request id."""
    error = ProtocolError(ErrorCode.NOT_FOUND, "no such generation", "generation_id", "r9")
    assert json.loads(encode_protocol_error(error)) == {
        "type": "error",
        "id": "r9",
        "code": "not_found",
        "message": "no such generation",
        "field": "generation_id",
    }
    assert str(error) == "no such generation"
    assert "not_found" in repr(error)


def test_error_codes_are_the_contracts() -> None:
    """The error codes are exactly the seven of the contract."""
    assert {code.value for code in ErrorCode} == {
        "bad_json",
        "bad_message",
        "not_found",
        "conflict",
        "rate_limited",
        "overloaded",
        "internal",
    }


def test_close_codes_and_reasons() -> None:
    """Close codes are 1009, 1013 and 1008, each with a reason that fits in a close frame."""
    assert (CLOSE_FRAME_TOO_LARGE, CLOSE_TOO_FAR_BEHIND, CLOSE_POLICY_VIOLATION) == (1009, 1013, 1008)
    assert set(CLOSE_REASONS) == {1008, 1009, 1013}
    assert all(0 < len(reason.encode()) <= 123 for reason in CLOSE_REASONS.values())
    assert MAX_FRAME_BYTES == 1_048_576


# --- deltas ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [*Channel, *TRICKY_CHANNELS])
def test_delta_frame_parses_to_the_expected_object(channel: str) -> None:
    """A spliced delta is valid JSON holding the channel (escaped), the position and the row."""
    row_json = msgspec.json.encode(ROW)
    raw = encode_delta(channel, 12, row_json)
    assert json.loads(raw) == {"type": "delta", "channel": channel, "position": 12, "data": json.loads(row_json)}


@given(st.text(), positions, json_values)
def test_delta_frame_is_what_the_encoder_would_write(channel: str, position: int, row: Any) -> None:
    """Splicing gives byte for byte the frame that encoding a DeltaMessage gives, for any channel and row."""
    row_json = msgspec.json.encode(row)
    raw = encode_delta(channel, position, row_json)
    assert raw == encode_message(DeltaMessage(channel=channel, position=position, data=msgspec.Raw(row_json)))
    assert json.loads(raw) == {"type": "delta", "channel": channel, "position": position, "data": row}


@given(st.lists(st.tuples(st.sampled_from([*Channel, *TRICKY_CHANNELS]), positions, json_values), max_size=5))
def test_deltas_frame_holds_the_deltas_in_order(items: list[tuple[str, int, Any]]) -> None:
    """A deltas frame built from delta frames parses to the list of those deltas, in the order given."""
    frames = [encode_delta(c, p, msgspec.json.encode(row)) for c, p, row in items]
    raw = encode_deltas(frames)
    structs = [DeltaMessage(channel=c, position=p, data=msgspec.Raw(msgspec.json.encode(row))) for c, p, row in items]
    assert raw == encode_message(DeltasMessage(deltas=structs))
    parsed = json.loads(raw)
    assert parsed == {
        "type": "deltas",
        "deltas": [{"type": "delta", "channel": c, "position": p, "data": row} for c, p, row in items],
    }


def test_two_rows_changed_by_one_event_share_the_position_in_one_frame() -> None:
    """A generation row and its batch row changed by one event travel together at the same position."""
    batch = BatchRow(batch_id="b", total=1, pending=1, created_at="t", updated_at="t")
    frame = encode_deltas(
        [
            encode_delta(Channel.GENERATION_STATUS, 40, msgspec.json.encode(ROW)),
            encode_delta(Channel.BATCH_PROGRESS, 40, msgspec.json.encode(batch)),
        ]
    )
    message = decode_server_message(frame)
    assert isinstance(message, DeltasMessage)
    assert [(d.channel, d.position) for d in message.deltas] == [("generation:status", 40), ("batch:progress", 40)]


def test_captcha_request_frame() -> None:
    """A captcha request names the request, the profile and the reCAPTCHA action."""
    raw = encode_captcha_request("c1", "default", "VIDEO_GENERATION")
    assert json.loads(raw) == {
        "type": "captcha_request",
        "request_id": "c1",
        "profile_id": "default",
        "action": "VIDEO_GENERATION",
    }


# --- the client's side ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (encode_result("r1", {"a": 1}, 4), Result(id="r1", data={"a": 1}, position=4)),
        (
            encode_error(None, ErrorCode.RATE_LIMITED, "slow down"),
            ErrorReply(id=None, code=ErrorCode.RATE_LIMITED, message="slow down"),
        ),
        (encode_delta("upscale:status", 9, b"{}"), DeltaMessage(channel="upscale:status", position=9, data={})),
        (encode_deltas([]), DeltasMessage(deltas=[])),
        (
            encode_captcha_request("c1", "p", "a"),
            CaptchaRequest(request_id="c1", profile_id="p", action="a"),
        ),
    ],
)
def test_clients_decode_every_server_message(raw: bytes, expected: object) -> None:
    """decode_server_message reads each kind of server frame back into its Struct."""
    assert decode_server_message(raw) == expected
    assert decode_server_message(raw.decode()) == expected


def test_clients_ignore_fields_added_later() -> None:
    """A newer server's extra fields do not break an older client."""
    message = decode_server_message(b'{"type":"result","id":"r","ok":true,"data":1,"position":2,"took_ms":3}')
    assert message == Result(id="r", data=1, position=2)


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{", ErrorCode.BAD_JSON), (b'{"type":"hello"}', ErrorCode.BAD_MESSAGE), (b"\xff", ErrorCode.BAD_JSON)],
)
def test_clients_get_a_protocol_error_for_a_bad_server_frame(raw: bytes, code: ErrorCode) -> None:
    """A frame that is no server message raises ProtocolError."""
    with pytest.raises(ProtocolError) as caught:
        decode_server_message(raw)
    assert caught.value.code == code
