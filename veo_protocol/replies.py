"""Server → client messages (CONTRACT §3, §4) and their encoders, with byte splicing for deltas.

Deltas are encoded once and sent to many clients, so `encode_delta` splices a row that the projection has
already encoded into the frame without decoding it, and `encode_deltas` joins already-encoded delta frames.
Clients (the CLI, `bench/`, tests) read every server message with `decode_server_message`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final, TypeAlias

import msgspec

from veo_protocol.errors import ErrorCode, ProtocolError
from veo_protocol.requests import Channel

__all__ = [
    "CaptchaRequest",
    "DeltaMessage",
    "DeltasMessage",
    "ErrorReply",
    "Result",
    "ServerMessage",
    "decode_server_message",
    "encode_captcha_request",
    "encode_delta",
    "encode_deltas",
    "encode_error",
    "encode_message",
    "encode_protocol_error",
    "encode_result",
]

logger = logging.getLogger(__name__)


class Result(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="result"):
    """A request's success: `data` as the request type says, `position` the read model's at the read."""

    id: str
    ok: bool = True
    data: Any = None
    position: int


class ErrorReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type", tag="error"):
    """A request's failure; `id` is null when the request's id could not be read, `field` only when one is at fault."""

    id: str | None
    code: ErrorCode
    message: str
    field: str | None = None


class DeltaMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="delta"):
    """One row change on a channel, at the position of the event that made it."""

    channel: str
    position: int
    data: Any


class DeltasMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="deltas"):
    """Several deltas in one frame, in position order."""

    deltas: list[DeltaMessage]


class CaptchaRequest(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="captcha_request"):
    """Asks a registered provider for a reCAPTCHA token; answered with `provide_captcha_token`."""

    request_id: str
    profile_id: str
    action: str


ServerMessage: TypeAlias = Result | ErrorReply | DeltaMessage | DeltasMessage | CaptchaRequest

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final[msgspec.json.Decoder[ServerMessage]] = msgspec.json.Decoder(ServerMessage)
_CHANNEL_JSON: Final = {channel.value: _ENCODER.encode(channel.value) for channel in Channel}


def encode_message(message: ServerMessage) -> bytes:
    """The JSON frame of any server message."""
    return _ENCODER.encode(message)


def encode_result(request_id: str, data: object, position: int) -> bytes:
    """A `result` frame; `data` is anything msgspec encodes, and `bytes` are spliced in as ready JSON."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = msgspec.Raw(data)
    return _ENCODER.encode(Result(id=request_id, data=data, position=position))


def encode_error(request_id: str | None, code: ErrorCode, message: str, field: str | None = None) -> bytes:
    """An `error` frame (`field` is left out when None)."""
    return _ENCODER.encode(ErrorReply(id=request_id, code=code, message=message, field=field))


def encode_protocol_error(error: ProtocolError) -> bytes:
    """The `error` frame of a ProtocolError."""
    return encode_error(error.request_id, error.code, error.message, error.field)


def encode_delta(channel: str, position: int, row_json: bytes) -> bytes:
    """A `delta` frame around an already-encoded row, which is spliced in as it is (it must be valid JSON)."""
    channel_json = _CHANNEL_JSON.get(channel) or _ENCODER.encode(channel)
    return b"".join(
        (b'{"type":"delta","channel":', channel_json, b',"position":', b"%d" % position, b',"data":', row_json, b"}")
    )


def encode_deltas(frames: Sequence[bytes]) -> bytes:
    """A `deltas` frame holding already-encoded `delta` frames (give them in position order)."""
    return b"".join((b'{"type":"deltas","deltas":[', b",".join(frames), b"]}"))


def encode_captcha_request(request_id: str, profile_id: str, action: str) -> bytes:
    """A `captcha_request` frame pushed to a registered provider."""
    return _ENCODER.encode(CaptchaRequest(request_id=request_id, profile_id=profile_id, action=action))


def decode_server_message(frame: bytes | str) -> ServerMessage:
    """A server message as a client reads it; unknown fields are ignored, anything else raises ProtocolError."""
    try:
        return _DECODER.decode(frame)
    except msgspec.ValidationError as exc:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"unexpected server message: {exc}") from exc
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"server frame is not JSON: {exc}") from exc
