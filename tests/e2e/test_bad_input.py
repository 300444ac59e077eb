"""Every kind of bad input a client can send gets a plain error or a close code, and none reaches the store."""

from __future__ import annotations

import json
from contextlib import suppress
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import Peer, Relay, relay, run
from veo_protocol import REQUEST_TYPES, ErrorCode, ErrorReply, QueueStatus
from veo_protocol.requests import MAX_CAPTCHA_TOKEN_CHARS

MIB = 1 << 20


async def error_for(peer: Peer, frame: str | bytes, request_id: str | None) -> ErrorReply:
    """Send a raw frame and return the error it earns (by id, or the next anonymous one)."""
    seen = len(peer.anonymous_errors)
    await peer.ws.send(frame)
    if request_id is None:
        await peer.until(lambda: len(peer.anonymous_errors) > seen, what="an error without id")
        return peer.anonymous_errors[seen]
    reply = await peer.reply(request_id)
    assert isinstance(reply, ErrorReply), reply
    return reply


async def still_serving(target: Relay, peer: Peer) -> None:
    """The connection is open and answers; the store saw nothing."""
    assert not peer.closed
    await peer.ok(QueueStatus)
    assert target.store_position() == 0


def test_malformed_json_is_bad_json_and_the_connection_stays_open(tmp_path: Path) -> None:
    """Frames that are not JSON objects (or not UTF-8) earn bad_json with a null id; the client goes on."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            frames: list[str | bytes] = ['{"type": "queue_status", "id": "a"', "not json", "[1, 2]", "", b"\xff\xfe{}"]
            for frame in frames:
                error = await error_for(peer, frame, None)
                assert (error.code, error.id) == (ErrorCode.BAD_JSON, None), frame
                assert error.message
            await still_serving(target, peer)
            await peer.close()

    run(scenario())


def test_an_unknown_type_is_bad_message_listing_the_types(tmp_path: Path) -> None:
    """The error names `type` and lists every request type; the id is recovered from the bad request."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            error = await error_for(peer, json.dumps({"type": "launch_missiles", "id": "u1"}), "u1")
            assert (error.code, error.field) == (ErrorCode.BAD_MESSAGE, "type")
            assert all(name in error.message for name in REQUEST_TYPES)
            await still_serving(target, peer)
            await peer.close()

    run(scenario())


def test_missing_and_wrong_fields_are_named(tmp_path: Path) -> None:
    """A missing, mistyped, out-of-range or unknown field earns bad_message naming that field."""
    cases: list[tuple[dict[str, object], str]] = [
        ({"type": "generate", "id": "m1"}, "prompt"),
        ({"type": "generate", "id": "m2", "prompt": 42}, "prompt"),
        ({"type": "generate", "id": "m3", "prompt": "x", "seed": -1}, "seed"),
        ({"type": "generate", "id": "m4", "prompt": "x", "aspect_ratio": "round"}, "aspect_ratio"),
        ({"type": "batch_generate", "id": "m5", "prompts": ["a", ""]}, "prompts[1]"),
        ({"type": "subscribe", "id": "m6", "channels": []}, "channels"),
        ({"type": "subscribe", "id": "m7", "channels": ["gossip"]}, "channels[0]"),
        ({"type": "cancel", "id": "m8", "generation_id": "not-a-uuid"}, "generation_id"),
        ({"type": "get_history", "id": "m9", "limit": 501}, "limit"),
        ({"type": "queue_status", "id": "m10", "extra": True}, "extra"),
    ]

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            for message, field in cases:
                error = await error_for(peer, json.dumps(message), str(message["id"]))
                assert (error.code, error.field) == (ErrorCode.BAD_MESSAGE, field), message
                assert field.split("[")[0] in error.message
            await still_serving(target, peer)
            await peer.close()

    run(scenario())


def test_an_over_long_secret_inside_a_frame_that_fits_is_refused_naming_the_field_and_its_limit(
    tmp_path: Path,
) -> None:
    """A reCAPTCHA token of almost 1 MiB (the frame is within the limit) earns bad_message naming the field and
    its limit, never echoes the token, records nothing, and the connection goes on."""
    token = "T" * (MIB - 200)
    cases: list[dict[str, object]] = [
        {"type": "generate", "id": "g", "prompt": "a fox", "recaptcha_token": token},
        {"type": "batch_generate", "id": "b", "prompts": ["a fox"], "recaptcha_token": token},
        {"type": "provide_captcha_token", "id": "p", "request_id": "c1", "token": token},
    ]

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            for message in cases:
                field = "token" if message["type"] == "provide_captcha_token" else "recaptcha_token"
                error = await error_for(peer, json.dumps(message), str(message["id"]))
                assert (error.code, error.field) == (ErrorCode.BAD_MESSAGE, field)
                assert f"1 to {MAX_CAPTCHA_TOKEN_CHARS:,} characters" in error.message
                assert "TTTT" not in error.message
            await still_serving(target, peer)
            await peer.close()

    run(scenario())


def test_a_frame_over_one_mebibyte_closes_with_1009(tmp_path: Path) -> None:
    """1 MiB is still answered (bad_json); one byte more closes the connection with 1009."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            error = await error_for(peer, "x" * MIB, None)
            assert error.code == ErrorCode.BAD_JSON
            huge = json.dumps({"type": "generate", "id": "big", "prompt": "x" * MIB})
            with suppress(ConnectionClosed):  # the close may race the end of the send
                await peer.ws.send(huge)
            assert await peer.closed_with() == 1009
            assert "big" not in peer.replies
            other = await target.connect()
            await still_serving(target, other)
            await other.close()

    run(scenario())


def test_a_flood_gets_rate_limited_errors_then_a_1008_close(tmp_path: Path) -> None:
    """Past its burst a client is warned with rate_limited errors, then closed with 1008; nothing was recorded."""

    async def scenario() -> None:
        # A frozen flood clock and no pause: the warnings come at once, not a second apart (the pauses and the
        # refill are unit-tested on a fake clock in tests/server/test_flood.py).
        async with relay(tmp_path, clock=lambda: 0.0, flood_pause=0.0) as target:
            peer = await target.connect()
            generate = {"type": "generate", "prompt": "a valid prompt", "profile_id": "no such profile"}
            try:
                for index in range(400):
                    await peer.ws.send(json.dumps({**generate, "id": f"f{index}"}))
            except ConnectionClosed:
                pass
            assert await peer.closed_with() == 1008
            replies = [*peer.anonymous_errors, *peer.replies.values()]
            warnings = [e for e in replies if isinstance(e, ErrorReply) and e.code == ErrorCode.RATE_LIMITED]
            assert warnings, replies
            assert all(w.id is not None and w.id.startswith("f") for w in warnings)  # the dropped message's id
            assert target.store_position() == 0
            other = await target.connect()
            await still_serving(target, other)
            await other.close()

    run(scenario())
