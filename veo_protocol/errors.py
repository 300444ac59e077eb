"""The protocol's errors: error codes, the ProtocolError exception, close codes and the frame limit (CONTRACT §4).

Exceptions: `ProtocolError` is the one exception of the protocol. `decode_request` raises it with
`bad_json` or `bad_message`; the server's handlers raise it with the other codes (`not_found`,
`conflict`, ...), and the connection handler turns it into an `error` frame with `encode_protocol_error`.
Its message is meant for the client and never holds a secret.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Final

__all__ = [
    "CLOSE_FRAME_TOO_LARGE",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_REASONS",
    "CLOSE_TOO_FAR_BEHIND",
    "MAX_FRAME_BYTES",
    "ErrorCode",
    "ProtocolError",
]

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES: Final = 1 << 20
"""The largest frame either side may send (1 MiB); a larger one closes the connection with 1009."""


class ErrorCode(StrEnum):
    """The `code` of an error reply."""

    BAD_JSON = "bad_json"
    """The frame is not JSON text, or not a JSON object."""
    BAD_MESSAGE = "bad_message"
    """Unknown `type`, or a missing, unknown or invalid field (`field` names it)."""
    NOT_FOUND = "not_found"
    """No generation or batch has the id given."""
    CONFLICT = "conflict"
    """The request does not fit the job's or the connection's state (cancel of a finished job, upscale of an
    unfinished one, `provide_session` from a connection that is not its profile's token provider)."""
    RATE_LIMITED = "rate_limited"
    """The client sends too fast; it is closed with 1008 when it keeps on."""
    OVERLOADED = "overloaded"
    """The server cannot take the request now; try again later."""
    INTERNAL = "internal"
    """A fault in the server; the request may or may not have taken effect."""


CLOSE_POLICY_VIOLATION: Final = 1008
"""The client kept flooding the server after `rate_limited` warnings."""
CLOSE_FRAME_TOO_LARGE: Final = 1009
"""A frame was larger than `MAX_FRAME_BYTES`."""
CLOSE_TOO_FAR_BEHIND: Final = 1013
"""The client read too slowly and fell too far behind; reconnect and `subscribe` with `after`."""

CLOSE_REASONS: Final[dict[int, str]] = {
    CLOSE_POLICY_VIOLATION: "too many messages after rate_limited warnings",
    CLOSE_FRAME_TOO_LARGE: "frame larger than 1 MiB",
    CLOSE_TOO_FAR_BEHIND: "too far behind: reconnect and subscribe with after = your last position",
}
"""A close reason text for each close code (each under the 123 bytes a close frame allows)."""


class ProtocolError(Exception):
    """A request answered with an `error` frame: its code, a plain message, the field at fault, the request's id."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id

    def __repr__(self) -> str:
        return (
            f"ProtocolError(code={self.code.value!r}, message={self.message!r}, "
            f"field={self.field!r}, request_id={self.request_id!r})"
        )
