"""Property tests: valid requests round-trip, and any frame at all decodes or fails as a ProtocolError."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.requests import GenerationSpec, validate_request_key
from domain.values import AspectRatio, Priority, Resolution
from veo_protocol import (
    REQUEST_TYPES,
    SECRET_FIELDS,
    BatchGenerate,
    Cancel,
    Channel,
    ErrorCode,
    Generate,
    GetAnalytics,
    GetBatch,
    GetHistory,
    GetProviderToken,
    GetStatus,
    GetStatuses,
    ProtocolError,
    ProvideCaptchaToken,
    QueueStatus,
    Refresh,
    RegisterProvider,
    Request,
    Retry,
    Subscribe,
    Unsubscribe,
    Upscale,
    decode_request,
    encode_request,
)

ids = st.text(min_size=1, max_size=200)
prompts = st.text(min_size=1, max_size=60).filter(str.strip)
profiles = st.from_regex(r"\A[A-Za-z0-9_.-]{1,100}\Z")
models = st.from_regex(r"\A[a-z0-9_]{1,100}\Z")
keys = st.text(min_size=1, max_size=200)
tokens = st.text(min_size=1, max_size=50)
channels = st.lists(st.sampled_from(Channel), min_size=1, max_size=4)
uuids = st.uuids()
options: dict[str, st.SearchStrategy[Any]] = {
    "profile_id": st.none() | profiles,
    "model": st.none() | models,
    "aspect_ratio": st.none() | st.sampled_from(AspectRatio),
    "seed": st.none() | st.integers(0, 2**31 - 1),
    "priority": st.none() | st.sampled_from(Priority),
    "request_key": st.none() | keys,
    "recaptcha_token": st.none() | tokens,
}

requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(Subscribe, id=ids, channels=channels, after=st.none() | st.integers(0, 2**63 - 1)),
    st.builds(Unsubscribe, id=ids, channels=channels),
    st.builds(Generate, id=ids, prompt=prompts, **options),
    st.builds(
        BatchGenerate,
        id=ids,
        prompts=st.lists(prompts, min_size=1, max_size=5),
        delay_ms=st.integers(0, 60_000),
        **options,
    ),
    st.builds(
        Upscale,
        id=ids,
        generation_id=uuids,
        resolution=st.none() | st.sampled_from(Resolution),
        request_key=st.none() | keys,
        recaptcha_token=st.none() | tokens,
    ),
    st.builds(Cancel, id=ids, generation_id=uuids),
    st.builds(Retry, id=ids, generation_id=uuids),
    st.builds(GetStatus, id=ids, generation_id=uuids),
    st.builds(GetStatuses, id=ids, generation_ids=st.lists(uuids, min_size=1, max_size=5)),
    st.builds(
        GetHistory,
        id=ids,
        limit=st.integers(1, 500),
        before=st.none() | st.text(min_size=1, max_size=40),
        tz=st.none() | st.sampled_from(["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT-14"]),
    ),
    st.builds(GetBatch, id=ids, batch_id=uuids),
    st.builds(GetAnalytics, id=ids, window=st.sampled_from(["all", "1h"])),
    st.builds(Refresh, id=ids, generation_id=uuids),
    st.builds(QueueStatus, id=ids),
    st.builds(GetProviderToken, id=ids),
    st.builds(RegisterProvider, id=ids, profile_id=st.none() | profiles),
    st.builds(ProvideCaptchaToken, id=ids, request_id=ids, token=tokens),
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.integers(min_value=-(2**70), max_value=-(2**63) + 2)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["", " ", "generation:status", "0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00", "\u2028", "\x00"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def decode_or_error(raw: str | bytes) -> Request | ProtocolError:
    """The decoded request, or the ProtocolError: any other exception fails the test."""
    try:
        return decode_request(raw)
    except ProtocolError as error:
        caught = error
    assert caught.code in {ErrorCode.BAD_JSON, ErrorCode.BAD_MESSAGE}
    assert caught.message
    return caught


def string_leaves(value: Any) -> list[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [leaf for item in value for leaf in string_leaves(item)]
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in [key, *string_leaves(item)]]
    return []


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 200


@given(requests)
def test_valid_requests_round_trip(request: Request) -> None:
    """Encoding a valid request and decoding the frame, as bytes or as text, gives the same request."""
    raw = encode_request(request)
    assert decode_request(raw) == request
    assert decode_request(raw.decode()) == request
    assert decode_request(json.dumps(json.loads(raw), ensure_ascii=True)) == request


@given(requests)
def test_accepted_generation_options_are_accepted_by_the_domain(request: Request) -> None:
    """Whatever the protocol accepts for a generation, the domain's own checks accept too."""
    if isinstance(request, Generate | BatchGenerate):
        for prompt in [request.prompt] if isinstance(request, Generate) else request.prompts:
            GenerationSpec(
                prompt=prompt,
                seed=request.seed,
                **{k: v for k in ("model", "aspect_ratio", "priority", "profile_id") if (v := getattr(request, k))},
            )
        validate_request_key(request.request_key)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_protocol_error(raw: bytes) -> None:
    """Arbitrary bytes never raise anything but ProtocolError."""
    decode_or_error(raw)


@given(st.text(max_size=300))
def test_any_text_decodes_or_raises_protocol_error(raw: str) -> None:
    """Arbitrary text never raises anything but ProtocolError."""
    decode_or_error(raw)


@given(json_values)
def test_any_json_value_decodes_or_raises_protocol_error(value: Any) -> None:
    """Any JSON document is a request, a bad_message or (when not an object) a bad_json."""
    result = decode_or_error(json.dumps(value))
    if not isinstance(value, dict):
        assert isinstance(result, ProtocolError)
        assert result.code == ErrorCode.BAD_JSON


@given(requests, st.data())
def test_a_changed_field_is_the_field_the_error_names(request: Request, data: st.DataObject) -> None:
    """Setting one field of a valid request to any JSON value either stays valid or is an error naming that field."""
    document = json.loads(encode_request(request))
    struct_fields = ["id", *type(request).__struct_fields__]
    name = data.draw(st.sampled_from([*struct_fields, "type", "unknown_field"]))
    value = data.draw(json_values)
    document[name] = value
    result = decode_or_error(json.dumps(document))
    if isinstance(result, ProtocolError):
        assert result.code == ErrorCode.BAD_MESSAGE
        assert result.request_id == (document["id"] if is_valid_id(document["id"]) else None)
        if name != "type":
            assert result.field is not None
            assert result.field == name or result.field.startswith(name + "[")
        if name in SECRET_FIELDS:
            assert not any(leaf in result.message for leaf in string_leaves(value) if len(leaf) >= 4)
    else:
        assert name in struct_fields or (name == "type" and value in REQUEST_TYPES)


@given(requests, st.data())
def test_a_dropped_field_is_required_or_defaulted(request: Request, data: st.DataObject) -> None:
    """Dropping a field gives a valid request when it was optional, else an error naming it."""
    document = json.loads(encode_request(request))
    name = data.draw(st.sampled_from(sorted(document)))
    del document[name]
    result = decode_or_error(json.dumps(document))
    if isinstance(result, ProtocolError):
        assert (result.code, result.field) == (ErrorCode.BAD_MESSAGE, name)
        assert result.request_id == document.get("id")
    else:
        default = next(f.default for f in msgspec.structs.fields(request) if f.encode_name == name)
        assert result == msgspec.structs.replace(request, **{name: default})


@settings(max_examples=300)
@given(requests, st.data())
def test_mutated_frames_decode_or_raise_protocol_error(request: Request, data: st.DataObject) -> None:
    """Flipping, inserting or deleting bytes of a valid frame never raises anything but ProtocolError."""
    raw = bytearray(encode_request(request))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif at < len(raw):
            if action == "flip":
                raw[at] = data.draw(st.integers(0, 255))
            else:
                del raw[at]
    decode_or_error(bytes(raw))


@given(st.recursive(json_values, lambda inner: st.lists(inner, min_size=1, max_size=1), max_leaves=200))
def test_nesting_in_any_field_decodes_or_raises_protocol_error(value: Any) -> None:
    """Deeply nested values inside a request never escape as another exception."""
    decode_or_error(json.dumps({"type": "generate", "id": "r1", "prompt": value}))
    decode_or_error(json.dumps({"type": "generate", "id": "r1", "prompt": "a", "extra": value}))
