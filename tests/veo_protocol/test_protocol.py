"""Decoding client requests: every type, defaults, limits at their boundaries, field paths and id recovery."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from domain.values import AspectRatio, Priority, Resolution
from veo_protocol import (
    REQUEST_TYPES,
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
    ProvideSession,
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

GID = "0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00"


def frame(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, "id": "r1", **fields})


def rejected(raw: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode_request(raw)
    return caught.value


NONCE = "n" * 32
EXAMPLES: list[tuple[str, dict[str, Any], Request]] = [
    ("subscribe", {"channels": ["generation:status"]}, Subscribe(id="r1", channels=[Channel.GENERATION_STATUS])),
    (
        "subscribe",
        {"channels": ["upscale:status", "batch:progress"], "after": 42},
        Subscribe(id="r1", channels=[Channel.UPSCALE_STATUS, Channel.BATCH_PROGRESS], after=42),
    ),
    ("unsubscribe", {"channels": ["batch:progress"]}, Unsubscribe(id="r1", channels=[Channel.BATCH_PROGRESS])),
    ("generate", {"prompt": "a cat"}, Generate(id="r1", prompt="a cat")),
    (
        "generate",
        {
            "prompt": "a cat",
            "profile_id": "main.profile-1",
            "model": "veo_3_1_t2v_fast",
            "aspect_ratio": "portrait",
            "seed": 7,
            "priority": "urgent",
            "request_key": "k1",
            "recaptcha_token": "tok",
        },
        Generate(
            id="r1",
            prompt="a cat",
            profile_id="main.profile-1",
            model="veo_3_1_t2v_fast",
            aspect_ratio=AspectRatio.PORTRAIT,
            seed=7,
            priority=Priority.URGENT,
            request_key="k1",
            recaptcha_token="tok",
        ),
    ),
    ("batch_generate", {"prompts": ["a", "b"]}, BatchGenerate(id="r1", prompts=["a", "b"])),
    (
        "batch_generate",
        {"prompts": ["a"], "delay_ms": 0, "aspect_ratio": "square", "request_key": "b1", "priority": "low"},
        BatchGenerate(
            id="r1", prompts=["a"], delay_ms=0, aspect_ratio=AspectRatio.SQUARE, request_key="b1", priority=Priority.LOW
        ),
    ),
    ("upscale", {"generation_id": GID}, Upscale(id="r1", generation_id=UUID(GID))),
    (
        "upscale",
        {"generation_id": GID, "resolution": "4k", "request_key": "u1", "recaptcha_token": "t"},
        Upscale(id="r1", generation_id=UUID(GID), resolution=Resolution.K4, request_key="u1", recaptcha_token="t"),
    ),
    ("cancel", {"generation_id": GID}, Cancel(id="r1", generation_id=UUID(GID))),
    ("retry", {"generation_id": GID}, Retry(id="r1", generation_id=UUID(GID))),
    ("get_status", {"generation_id": GID}, GetStatus(id="r1", generation_id=UUID(GID))),
    ("get_statuses", {"generation_ids": [GID]}, GetStatuses(id="r1", generation_ids=[UUID(GID)])),
    ("get_history", {}, GetHistory(id="r1")),
    (
        "get_history",
        {"limit": 10, "before": "cursor", "tz": "America/Argentina/Buenos_Aires"},
        GetHistory(id="r1", limit=10, before="cursor", tz="America/Argentina/Buenos_Aires"),
    ),
    ("get_batch", {"batch_id": GID}, GetBatch(id="r1", batch_id=UUID(GID))),
    ("get_analytics", {}, GetAnalytics(id="r1")),
    ("get_analytics", {"window": "1h"}, GetAnalytics(id="r1", window="1h")),
    ("refresh", {"generation_id": GID}, Refresh(id="r1", generation_id=UUID(GID))),
    ("queue_status", {}, QueueStatus(id="r1")),
    ("register_provider", {}, RegisterProvider(id="r1")),
    ("register_provider", {"profile_id": "p"}, RegisterProvider(id="r1", profile_id="p")),
    ("register_provider", {"nonce": NONCE}, RegisterProvider(id="r1", nonce=NONCE)),
    (
        "register_provider",
        {"nonce": NONCE, "relay_nonce": NONCE, "proof": "0" * 64},
        RegisterProvider(id="r1", nonce=NONCE, relay_nonce=NONCE, proof="0" * 64),
    ),
    (
        "provide_captcha_token",
        {"request_id": "c1", "token": "t"},
        ProvideCaptchaToken(id="r1", request_id="c1", token="t"),
    ),
    (
        "provide_session",
        {"profile_id": "p", "session_cookie": "eyJ.abc-_"},
        ProvideSession(id="r1", profile_id="p", session_cookie="eyJ.abc-_"),
    ),
    ("get_provider_token", {}, GetProviderToken(id="r1")),
]


@pytest.mark.parametrize(("type_", "fields", "expected"), EXAMPLES)
def test_each_request_type_decodes_to_its_struct(type_: str, fields: dict[str, Any], expected: Request) -> None:
    """A well-formed frame of each type decodes to its Struct, with the contract's defaults filled in."""
    assert decode_request(frame(type_, **fields)) == expected
    assert decode_request(frame(type_, **fields).encode()) == expected


def test_every_request_type_of_the_contract_has_an_example() -> None:
    """The examples above cover all eighteen request types, and no others exist."""
    assert {type_ for type_, _, _ in EXAMPLES} == set(REQUEST_TYPES)
    assert len(REQUEST_TYPES) == 18


def test_contract_defaults() -> None:
    """delay_ms defaults to 500, limit to 50, window to all; server-chosen options stay None."""
    batch = decode_request(frame("batch_generate", prompts=["a"]))
    assert isinstance(batch, BatchGenerate)
    assert (batch.delay_ms, batch.model, batch.priority, batch.seed) == (500, None, None, None)
    history = decode_request(frame("get_history"))
    assert isinstance(history, GetHistory)
    assert (history.limit, history.before, history.tz) == (50, None, None)
    analytics = decode_request(frame("get_analytics"))
    assert isinstance(analytics, GetAnalytics)
    assert analytics.window == "all"


def test_explicit_null_for_an_optional_field_means_absent() -> None:
    """A client that sends null for an optional field gets the same request as one that leaves it out."""
    assert decode_request(frame("generate", prompt="a", seed=None, model=None)) == Generate(id="r1", prompt="a")


def test_uuids_are_normalised() -> None:
    """Upper-case and unhyphenated UUIDs name the same generation as the canonical form."""
    upper = decode_request(frame("cancel", generation_id=GID.upper()))
    bare = decode_request(frame("cancel", generation_id=GID.replace("-", "")))
    assert upper == bare == Cancel(id="r1", generation_id=UUID(GID))


def test_encode_request_omits_defaults_and_decodes_back() -> None:
    """A client's encoded request carries only what was set, and the server reads the same request."""
    request = Generate(id="r1", prompt="a cat", seed=3)
    raw = encode_request(request)
    assert json.loads(raw) == {"type": "generate", "id": "r1", "prompt": "a cat", "seed": 3}
    assert decode_request(raw) == request


def test_repr_hides_tokens() -> None:
    """reCAPTCHA tokens never appear in a request's repr."""
    generate = Generate(id="r1", prompt="p", recaptcha_token="SECRET-1")
    provide = ProvideCaptchaToken(id="r1", request_id="c", token="SECRET-2")
    assert "SECRET" not in repr(generate)
    assert "SECRET" not in repr(provide)
    assert "recaptcha_token='***'" in repr(generate)
    assert "recaptcha_token=None" in repr(Generate(id="r1", prompt="p"))


# --- limits at their boundaries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "fields", "field", "ok"),
    [
        ("generate", {"prompt": "x" * 10_000}, "prompt", True),
        ("generate", {"prompt": "x" * 10_001}, "prompt", False),
        ("generate", {"prompt": "😀" * 10_000}, "prompt", True),
        ("generate", {"prompt": "😀" * 10_001}, "prompt", False),
        ("generate", {"prompt": ""}, "prompt", False),
        ("generate", {"prompt": " \t\n\u00a0"}, "prompt", False),
        ("generate", {"prompt": "a", "seed": 0}, "seed", True),
        ("generate", {"prompt": "a", "seed": -1}, "seed", False),
        ("generate", {"prompt": "a", "seed": 2**31 - 1}, "seed", True),
        ("generate", {"prompt": "a", "seed": 2**31}, "seed", False),
        ("generate", {"prompt": "a", "request_key": "k" * 200}, "request_key", True),
        ("generate", {"prompt": "a", "request_key": "k" * 201}, "request_key", False),
        ("generate", {"prompt": "a", "request_key": ""}, "request_key", False),
        ("generate", {"prompt": "a", "profile_id": "p" * 100}, "profile_id", True),
        ("generate", {"prompt": "a", "profile_id": "p" * 101}, "profile_id", False),
        ("generate", {"prompt": "a", "profile_id": ""}, "profile_id", False),
        ("generate", {"prompt": "a", "profile_id": "p\n"}, "profile_id", False),
        ("generate", {"prompt": "a", "model": "veo_3_1_t2v_fast\n"}, "model", False),
        ("generate", {"prompt": "a", "model": "Veo"}, "model", False),
        ("generate", {"prompt": "a", "recaptcha_token": ""}, "recaptcha_token", False),
        ("generate", {"prompt": "a", "recaptcha_token": "t" * 8_192}, "recaptcha_token", True),
        ("generate", {"prompt": "a", "recaptcha_token": "t" * 8_193}, "recaptcha_token", False),
        ("batch_generate", {"prompts": ["a"], "recaptcha_token": "t" * 8_193}, "recaptcha_token", False),
        ("upscale", {"generation_id": GID, "recaptcha_token": "t" * 8_193}, "recaptcha_token", False),
        ("provide_captcha_token", {"request_id": "c", "token": "t" * 8_192}, "token", True),
        ("provide_captcha_token", {"request_id": "c", "token": "t" * 8_193}, "token", False),
        ("provide_session", {"profile_id": "p", "session_cookie": "c" * 8_193}, "session_cookie", False),
        ("get_history", {"search": "s" * 201}, "search", False),
        ("get_history", {"before": "b" * 1_001}, "before", False),
        ("provide_captcha_token", {"request_id": "r" * 201, "token": "t"}, "request_id", False),
        ("batch_generate", {"prompts": ["p"] * 1_000}, "prompts", True),
        ("batch_generate", {"prompts": ["p"] * 1_001}, "prompts", False),
        ("batch_generate", {"prompts": []}, "prompts", False),
        ("batch_generate", {"prompts": ["p"], "delay_ms": 0}, "delay_ms", True),
        ("batch_generate", {"prompts": ["p"], "delay_ms": -1}, "delay_ms", False),
        ("batch_generate", {"prompts": ["p"], "delay_ms": 60_000}, "delay_ms", True),
        ("batch_generate", {"prompts": ["p"], "delay_ms": 60_001}, "delay_ms", False),
        ("get_history", {"limit": 0}, "limit", False),
        ("get_history", {"limit": 1}, "limit", True),
        ("get_history", {"limit": 500}, "limit", True),
        ("get_history", {"limit": 501}, "limit", False),
        ("get_history", {"tz": "UTC"}, "tz", True),
        ("get_history", {"tz": "Etc/GMT+5"}, "tz", True),
        ("get_history", {"tz": "Europe/"}, "tz", False),
        ("get_history", {"tz": "../../etc/passwd"}, "tz", False),
        ("get_history", {"before": ""}, "before", False),
        ("get_statuses", {"generation_ids": [GID] * 1_000}, "generation_ids", True),
        ("get_statuses", {"generation_ids": [GID] * 1_001}, "generation_ids", False),
        ("get_statuses", {"generation_ids": []}, "generation_ids", False),
        ("subscribe", {"channels": ["generation:status"], "after": 0}, "after", True),
        ("subscribe", {"channels": ["generation:status"], "after": -1}, "after", False),
        ("subscribe", {"channels": ["generation:status"], "after": 2**63 - 1}, "after", True),
        ("subscribe", {"channels": ["generation:status"], "after": 2**63}, "after", False),
        ("subscribe", {"channels": []}, "channels", False),
        ("unsubscribe", {"channels": []}, "channels", False),
        ("subscribe", {"channels": ["generation:status"] * 16}, "channels", True),
        ("subscribe", {"channels": ["generation:status"] * 17}, "channels", False),
        ("unsubscribe", {"channels": ["batch:progress"] * 16}, "channels", True),
        ("unsubscribe", {"channels": ["batch:progress"] * 17}, "channels", False),
        ("provide_captcha_token", {"request_id": "c", "token": ""}, "token", False),
    ],
)
def test_limits_at_the_boundaries(type_: str, fields: dict[str, Any], field: str, ok: bool) -> None:
    """A value at a limit is accepted; one past it is a bad_message naming the field."""
    if ok:
        assert isinstance(decode_request(frame(type_, **fields)), REQUEST_TYPES[type_])
    else:
        error = rejected(frame(type_, **fields))
        assert (error.code, error.field, error.request_id) == (ErrorCode.BAD_MESSAGE, field, "r1")


def test_request_id_limits() -> None:
    """An id of 200 characters is accepted; an empty or 201-character id is a bad_message with a null id."""
    assert decode_request(json.dumps({"type": "queue_status", "id": "i" * 200})) == QueueStatus(id="i" * 200)
    for bad in ("", "i" * 201):
        error = rejected(json.dumps({"type": "queue_status", "id": bad}))
        assert (error.code, error.field, error.request_id) == (ErrorCode.BAD_MESSAGE, "id", None)


# --- field paths and messages for typical mistakes -----------------------------------------------------------


def test_a_field_name_that_looks_like_a_path_is_quoted_not_parsed() -> None:
    """An unknown field named like msgspec's path suffix is named as it is, not taken for a path."""
    error = rejected(frame("generate", prompt="a", **{"p - at `$.prompt`": 1}))
    assert (error.code, error.field) == (ErrorCode.BAD_MESSAGE, "p - at `$.prompt`")
    assert "unknown field 'p - at `$.prompt`'" in error.message


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (frame("generate"), "prompt", ["prompt is required", "10,000 characters"]),
        (frame("generate", prompt=5), "prompt", ["prompt must be text", "not an integer"]),
        (frame("generate", prompt="a" * 10_001), "prompt", ["10,000", "too long"]),
        (frame("generate", prompt="a", seed="7"), "seed", ["0 to 2,147,483,647", "not a string"]),
        (frame("generate", prompt="a", seed=2**31), "seed", ["0 to 2,147,483,647", "too large"]),
        (frame("generate", prompt="a", seed=1.5), "seed", ["integer", "not a decimal number"]),
        (frame("generate", prompt="a", seed=True), "seed", ["integer", "not true or false"]),
        (frame("generate", prompt="a", aspect_ratio="wide"), "aspect_ratio", ["'landscape', 'portrait', 'square'"]),
        (frame("generate", prompt="a", priority="asap"), "priority", ["'low', 'normal', 'high', 'urgent'", "'asap'"]),
        (frame("generate", prompt="a", colour="red"), "colour", ["unknown field 'colour'", "prompt, profile_id"]),
        (frame("batch_generate", prompts=["a", "b", "c", ""]), "prompts[3]", ["prompts[3] must be text", "empty"]),
        (frame("batch_generate", prompts=["a", 5]), "prompts[1]", ["not an integer"]),
        (frame("batch_generate", prompts="a"), "prompts", ["list of 1 to 1,000", "not a string"]),
        (frame("subscribe", channels=["generation:status", "gen"]), "channels[1]", ["'generation:status'", "'gen'"]),
        (frame("subscribe", channels="generation:status"), "channels", ["list of 1 to 16 items", "not a string"]),
        (frame("subscribe", channels=[]), "channels", ["list of 1 to 16 items", "empty"]),
        (frame("cancel", generation_id="42"), "generation_id", ["UUID"]),
        (frame("cancel"), "generation_id", ["generation_id is required", "UUID"]),
        (frame("get_statuses", generation_ids=[GID, "x"]), "generation_ids[1]", ["UUID"]),
        (frame("get_history", limit=501), "limit", ["1 to 500", "too large"]),
        (frame("get_history", tz="Not a zone"), "tz", ["IANA time zone"]),
        (frame("get_analytics", window="24h"), "window", ["'1h'", "'all'", "'24h'"]),
        (frame("upscale", generation_id=GID, resolution="8k"), "resolution", ["'1080p', '4k'", "'8k'"]),
        (frame("nope"), "type", ["unknown request type 'nope'", "subscribe", "provide_captcha_token"]),
        (json.dumps({"id": "r1"}), "type", ["type is required", "get_history"]),
        (json.dumps({"type": 3, "id": "r1"}), "type", ["type must be one of", "generate"]),
        (json.dumps({"type": "queue_status"}), "id", ["id is required", "1 to 200 characters"]),
        (json.dumps({"type": "queue_status", "id": 5}), "id", ["id must be a string", "not an integer"]),
        ('{"type":"generate","id":"r1","prompt":"a","seed":1e400}', "seed", ["far out of range"]),
        (frame("generate", prompt="a", **{"x" * 60_000: 1}), "x" * 60 + "…", ["unknown field 'xxx", "prompt"]),
        (frame("x" * 60_000), "type", ["unknown request type 'xxx", "…'"]),
    ],
)
def test_typical_mistakes_name_the_field_in_plain_words(raw: str, field: str, words: list[str]) -> None:
    """Each mistake is a bad_message whose `field` is the JSON path and whose message explains the rule."""
    error = rejected(raw)
    assert error.code == ErrorCode.BAD_MESSAGE
    assert error.field == field
    for word in words:
        assert word in error.message
    assert "$" not in error.message
    assert "`" not in error.message


def test_unknown_type_lists_every_type() -> None:
    """The message for an unknown type names all eighteen types."""
    message = rejected(frame("generat")).message
    assert all(type_ in message for type_ in REQUEST_TYPES)


def test_long_values_are_clipped_in_messages() -> None:
    """A huge unknown type or field name is not echoed back whole."""
    assert len(rejected(frame("x" * 100_000)).message) < 1_000
    error = rejected(json.dumps({"type": "queue_status", "id": "r1", "k" * 100_000: 1}))
    assert len(error.message) < 1_000
    assert error.field is not None
    assert len(error.field) < 100


def test_secret_values_are_never_echoed() -> None:
    """A malformed token is described by its kind, never by its value."""
    for value in (["SECRET"], {"SECRET": "SECRET"}, 12345678):
        error = rejected(frame("provide_captcha_token", request_id="c", token=value))
        assert error.field == "token"
        assert "SECRET" not in error.message
        assert "12345678" not in error.message


# --- id recovery ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        frame("generate"),
        frame("nope"),
        frame("generate", prompt="a", extra={"deep": [[[1]]]}),
        json.dumps({"prompt": "a", "id": "r1"}),
        json.dumps({"seed": "x", "prompt": "a", "type": "generate", "id": "r1"}),
    ],
)
def test_the_request_id_is_recovered_from_an_invalid_message(raw: str) -> None:
    """However the rest is wrong, an error for a JSON object carries the request's id."""
    error = rejected(raw)
    assert (error.code, error.request_id) == (ErrorCode.BAD_MESSAGE, "r1")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", ErrorCode.BAD_JSON),
        ("   ", ErrorCode.BAD_JSON),
        ("{", ErrorCode.BAD_JSON),
        ('{"type":"generate","id":"r1",', ErrorCode.BAD_JSON),
        ('{"type":"nope","id":"r1",', ErrorCode.BAD_JSON),
        ('{"type":"generate","id":"r1","prompt":"a"} trailing', ErrorCode.BAD_JSON),
        ("[1, 2]", ErrorCode.BAD_JSON),
        ('"generate"', ErrorCode.BAD_JSON),
        ("null", ErrorCode.BAD_JSON),
        (b'{"type":"generate","id":"r1","prompt":"\xff"}', ErrorCode.BAD_JSON),
        (b'{"type":"nope","id":"r1","x":"\xff"}', ErrorCode.BAD_JSON),
        (b'{"type":"nope","id":"r\xff1"}', ErrorCode.BAD_JSON),
        ('{"type":"generate","id":"r1","prompt":"\ud800"}', ErrorCode.BAD_JSON),
        ('{"type":"generate","id":"r1","prompt":"\\ud800"}', ErrorCode.BAD_JSON),
        ("[" * 100_000 + "]" * 100_000, ErrorCode.BAD_JSON),
        ('{"type":"generate","id":"r1","prompt":"a","x":' + "[" * 100_000 + "]" * 100_000 + "}", ErrorCode.BAD_JSON),
        ({"type": "queue_status", "id": ["r1"]}, ErrorCode.BAD_MESSAGE),
    ],
)
def test_frames_that_are_not_a_json_object_have_no_id(raw: str | bytes | dict[str, Any], code: ErrorCode) -> None:
    """Malformed JSON, non-objects, invalid text and ids that are not strings give an error with a null id."""
    error = rejected(json.dumps(raw) if isinstance(raw, dict) else raw)
    assert (error.code, error.request_id) == (code, None)
    if code == ErrorCode.BAD_JSON:
        assert error.field is None


def test_not_an_object_says_what_it_got() -> None:
    """A JSON array is bad_json saying a request must be an object."""
    assert rejected("[]").message == "a request must be a JSON object, not a list"
