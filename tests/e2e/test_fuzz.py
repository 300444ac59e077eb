"""Fuzzing a live relay: thousands of random and mutated frames, each answered by a well-formed reply.

The oracle is the pure decoder: a frame that `decode_request` rejects must earn exactly the error it
names (code, field, id); one it accepts gets a result with its id or a not_found/conflict/bad_message
from the handlers; a frame over 1 MiB must close the connection with 1009 (a new one takes over).
Valid generate, batch_generate and upscale requests are not sent (they would rightly record events),
so the store's last position must not move at all. Connections are replaced well within the flood
limits (a burst of 200), and every reply is awaited before the next frame.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from domain.requests import GenerationSpec
from tests.e2e.harness import TOKEN, Relay, relay_in_thread
from veo_protocol import (
    CLOSE_FRAME_TOO_LARGE,
    MAX_FRAME_BYTES,
    REQUEST_TYPES,
    BatchGenerate,
    DeltaMessage,
    DeltasMessage,
    ErrorCode,
    ErrorReply,
    Generate,
    ProtocolError,
    Request,
    Result,
    ServerMessage,
    Upscale,
    decode_request,
    decode_server_message,
)

MESSAGES_PER_CONNECTION = 150  # under the burst of 200: the token bucket never runs dry
RECORDING_REQUESTS = (Generate, BatchGenerate, Upscale)
EXPECTED_CODES = {ErrorCode.BAD_JSON, ErrorCode.BAD_MESSAGE, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT}


def seed(target: Relay) -> tuple[list[UUID], UUID]:
    """Completed generations (one batch of two, one alone) for requests to find; the poller knows none of them."""
    app = target.system.app
    batch_id, ids, _ = app.request_batch([GenerationSpec(prompt="seeded a"), GenerationSpec(prompt="seeded b")])
    alone, _ = app.request_generation(GenerationSpec(prompt="seeded c"))
    for index, generation_id in enumerate([*ids, alone]):
        app.record_submitted(generation_id)
        app.record_started(generation_id, f"op-{index}", f"media-{index}", "MEDIA_GENERATION_STATUS_PENDING")
        app.record_completed(generation_id, f"mg-{index}", f"https://example.invalid/{index}.mp4")
    assert target.system.projections.wait_for(app.last_position(), 60.0)
    return [*ids, alone], batch_id


class Line:
    """Synchronous connections to the relay, replaced before any reaches the flood limit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self._stack = ExitStack()
        self.used = 0
        self.opened = 0
        self.sent = 0

    def exchange(self, frame: str | bytes) -> ServerMessage | int:
        """Send one frame; the result or error that answers it (deltas in between are skipped), or a close code."""
        if self.ws is None or self.used >= MESSAGES_PER_CONNECTION:
            self.close()
            headers = {"Authorization": f"Bearer {TOKEN}"}
            self.ws = self._stack.enter_context(
                connect(self.url, additional_headers=headers, proxy=None, compression=None, max_size=None)
            )
            self.used = 0
            self.opened += 1
        self.used += 1
        self.sent += 1
        try:
            self.ws.send(frame)
            while True:
                message = decode_server_message(self.ws.recv(timeout=15, decode=False))
                if not isinstance(message, DeltaMessage | DeltasMessage):
                    return message
        except ConnectionClosed as exc:
            self.close()
            return exc.rcvd.code if exc.rcvd is not None else -1

    def close(self) -> None:
        """Close the current connection, if any."""
        self._stack.close()
        self.ws = None


# --- frames ---------------------------------------------------------------------------------------

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.builds(lambda c, n: c * n, st.characters(), st.integers(1_000, 40_000)),  # huge strings
    st.uuids().map(str),
)
junk = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
request_ids = st.one_of(st.from_regex(r"\A[a-z0-9-]{1,12}\Z"), st.text(max_size=210), junk)


def valid_requests(ids: list[UUID], batch_id: UUID) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """For each request type, strategies of valid values for its fields (the seeded ids among them)."""
    generation_id = st.sampled_from([*ids, uuid4()]).map(str)
    return {
        "subscribe": {"channels": st.just(["generation:status", "batch:progress"]), "after": st.integers(0, 30)},
        "unsubscribe": {"channels": st.just(["upscale:status"])},
        "generate": {"prompt": st.just("a fox"), "aspect_ratio": st.just("portrait"), "seed": st.just(7)},
        "batch_generate": {"prompts": st.just(["a", "b"]), "delay_ms": st.just(0)},
        "upscale": {"generation_id": generation_id, "resolution": st.just("4k")},
        "cancel": {"generation_id": generation_id},
        "retry": {"generation_id": generation_id},
        "get_status": {"generation_id": generation_id},
        "get_statuses": {"generation_ids": st.lists(generation_id, min_size=1, max_size=4)},
        "get_history": {"limit": st.integers(1, 5), "tz": st.sampled_from(["UTC", "Europe/Paris", "Mars/Olympus"])},
        "get_batch": {"batch_id": st.sampled_from([batch_id, uuid4()]).map(str)},
        "get_analytics": {"window": st.sampled_from(["all", "1h"])},
        "refresh": {"generation_id": generation_id},
        "queue_status": {},
        "register_provider": {"profile_id": st.just("default")},
        "provide_captcha_token": {"request_id": st.just("nobody-asked"), "token": st.just(TOKEN_VALUE)},
        "provide_session": {"profile_id": st.just("default"), "session_cookie": st.sampled_from(SECRETS)},
    }


@st.composite
def mutated_request(draw: st.DrawFn, fields_of: dict[str, dict[str, st.SearchStrategy[Any]]]) -> dict[str, Any]:
    """A valid request of a random type with up to four mutations: fields dropped, added, replaced or retyped."""
    kind = draw(st.sampled_from(sorted(fields_of)))
    message: dict[str, Any] = {"type": kind, "id": draw(st.from_regex(r"\A[a-z0-9]{1,8}\Z"))}
    message |= {name: draw(strategy) for name, strategy in fields_of[kind].items()}
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(message))) if message else "type"
        match draw(st.sampled_from(["drop", "add", "replace", "id", "type"])):
            case "drop":
                message.pop(name, None)
            case "add":
                message[draw(st.text(max_size=12))] = draw(junk)
            case "replace":
                message[name] = draw(junk)
            case "id":
                message["id"] = draw(request_ids)
            case _:
                message["type"] = draw(st.sampled_from(sorted(REQUEST_TYPES)) | st.text(max_size=20) | junk)
    return message


def frames(fields_of: dict[str, dict[str, st.SearchStrategy[Any]]]) -> st.SearchStrategy[str | bytes]:
    """Text and binary frames: mutated requests, JSON junk, broken JSON, invalid UTF-8, deep nesting."""
    requests = mutated_request(fields_of)
    as_json = st.builds(lambda m, ascii_only: json.dumps(m, ensure_ascii=ascii_only), requests, st.booleans())
    noise = st.one_of(
        as_json.map(str.encode),  # the same in binary frames
        st.builds(lambda text, cut: text[:cut], as_json, st.integers(0, 60)),  # truncated
        junk.map(json.dumps),
        st.text(max_size=80),
        st.binary(max_size=120),
        st.builds(lambda text, junk_bytes: text.encode()[:-1] + junk_bytes + b"}", as_json, st.binary(min_size=1)),
        st.integers(1, 60_000).map(lambda depth: "[" * depth + "]" * depth),
        st.sampled_from(
            [
                '{"type":"get_history","id":"n","limit":1e400}',
                '{"type":"get_history","id":"n","limit":-0.0}',
                '{"type":"get_status","id":"\\ud800","generation_id":"x"}',
                '{"type":"queue_status","id":"dup","id":"dup2"}',
                '{"type":"queue_status","id":"nul\\u0000"}',
            ]
        ),
    )
    # Two frames in three are mutated requests, which get past the JSON layer to the fields and handlers.
    return st.integers(0, 2).flatmap(lambda pick: noise if pick == 0 else as_json).map(sendable)


def sendable(frame: str | bytes) -> str | bytes:
    """A text frame must be UTF-8: text holding lone surrogates (which no client can send) goes as the bytes
    a sender would produce with `surrogatepass`, a binary frame of invalid UTF-8."""
    if isinstance(frame, str):
        try:
            frame.encode()
        except UnicodeEncodeError:
            return frame.encode("utf-8", "surrogatepass")
    return frame


COOKIE = "c00kie-s3cret"
TOKEN_VALUE = "t0ken-s3cret"
SECRETS = [COOKIE, f"not a cookie {COOKIE}"]  # the second breaks the cookie rules: refused, never quoted


# --- the oracle -----------------------------------------------------------------------------------


def verdict(frame: str | bytes) -> Request | ProtocolError:
    """What the pure decoder makes of a frame: the request, or the error it raises."""
    try:
        return decode_request(frame)
    except ProtocolError as exc:
        return exc


def check_reply(frame: str | bytes, reply: ServerMessage | int) -> None:
    """The reply is a well-formed result or error, agrees with what the pure decoder says, and echoes no secret."""
    assert not any(secret in repr(reply) for secret in (COOKIE, TOKEN_VALUE)), reply
    size = len(frame if isinstance(frame, bytes) else frame.encode())
    if size > MAX_FRAME_BYTES:
        assert reply == CLOSE_FRAME_TOO_LARGE, (size, reply)
        return
    assert isinstance(reply, Result | ErrorReply), reply
    request = verdict(frame)
    if isinstance(request, ProtocolError):
        assert isinstance(reply, ErrorReply), (frame, reply)
        assert (reply.code, reply.field, reply.id) == (request.code, request.field, request.request_id), (frame, reply)
        assert reply.message == request.message
        return
    assert reply.id == request.id, (frame, reply)
    if isinstance(reply, ErrorReply):
        assert reply.code in EXPECTED_CODES, (frame, reply)
        assert reply.message, reply


@pytest.fixture
def relay_line(tmp_path: Path) -> Iterator[tuple[Relay, Line, list[UUID], UUID]]:
    # without the video keeper: it would try the seeded rows' made-up video links and record their failure
    with relay_in_thread(tmp_path, keep_videos=False) as target:
        ids, batch_id = seed(target)
        line = Line(target.ws_url)
        try:
            yield target, line, ids, batch_id
        finally:
            line.close()


def test_random_and_mutated_frames_get_well_formed_replies_and_never_reach_the_store(
    relay_line: tuple[Relay, Line, list[UUID], UUID], caplog: pytest.LogCaptureFixture
) -> None:
    """Every frame earns one well-formed reply; the server never fails, never records, and keeps serving."""
    target, line, ids, batch_id = relay_line
    position = target.store_position()
    skipped: list[str] = []
    fields_of = valid_requests(ids, batch_id)
    caplog.set_level(logging.WARNING)

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(frames(fields_of), min_size=1, max_size=8))
    def exchange(batch: list[str | bytes]) -> None:
        for frame in batch:
            if isinstance(verdict(frame), RECORDING_REQUESTS):
                skipped.append("valid recording request")
                continue
            check_reply(frame, line.exchange(frame))

    exchange()
    assert line.sent >= 600, f"only {line.sent} frames were sent"
    assert target.store_position() == position
    fresh = Line(target.ws_url)
    reply = fresh.exchange('{"type":"queue_status","id":"after-the-fuzz"}')
    fresh.close()
    assert isinstance(reply, Result) and reply.id == "after-the-fuzz"
    assert target.store_position() == position
    assert line.opened >= line.sent // MESSAGES_PER_CONNECTION
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("server")]
    assert problems == []
