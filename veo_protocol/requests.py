"""Client requests (CONTRACT §4) as frozen msgspec Structs in one tagged union, with their limits.

Optional fields default to `None` where the server picks the value (the profile, the model, ...); the
contract's own defaults (`delay_ms` 500, `limit` 50, `window` "all") are written here. Decoding through
`veo_protocol.decode_request` checks every limit below; `encode_request` is the client's side.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args
from uuid import UUID

import msgspec
from msgspec import Meta

from domain.values import (
    MAX_PROMPT_CHARS,
    MAX_REQUEST_KEY_CHARS,
    MAX_SEED,
    AspectRatio,
    Channel,
    Priority,
    Resolution,
    Status,
)

__all__ = [
    "DEFAULT_DELAY_MS",
    "DEFAULT_HISTORY_LIMIT",
    "MAX_BATCH_PROMPTS",
    "MAX_CAPTCHA_TOKEN_CHARS",
    "MAX_CHANNELS",
    "MAX_DELAY_MS",
    "MAX_HISTORY_LIMIT",
    "MAX_HISTORY_SEARCH_CHARS",
    "MAX_ID_CHARS",
    "MAX_SESSION_COOKIE_CHARS",
    "MAX_STATUS_IDS",
    "MAX_TIME_ZONE_CHARS",
    "REQUEST_TYPES",
    "SECRET_FIELDS",
    "BatchGenerate",
    "Cancel",
    "Channel",
    "Generate",
    "GetAnalytics",
    "GetBatch",
    "GetHistory",
    "GetProviderToken",
    "GetStatus",
    "GetStatuses",
    "ProvideCaptchaToken",
    "ProvideSession",
    "QueueStatus",
    "Refresh",
    "RegisterProvider",
    "Request",
    "Retry",
    "Subscribe",
    "Unsubscribe",
    "Upscale",
    "encode_request",
]

logger = logging.getLogger(__name__)

MAX_ID_CHARS: Final = 200
MAX_BATCH_PROMPTS: Final = 1_000
MAX_STATUS_IDS: Final = 1_000
MAX_CHANNELS: Final = 16
"""Channel names in one `subscribe` or `unsubscribe` (there are three, and a name may repeat): without a cap a 1 MiB
frame carried tens of thousands of them."""
MAX_DELAY_MS: Final = 60_000
DEFAULT_DELAY_MS: Final = 500
MAX_HISTORY_LIMIT: Final = 500
DEFAULT_HISTORY_LIMIT: Final = 50
MAX_HISTORY_SEARCH_CHARS: Final = 200
MAX_POSITION: Final = 2**63 - 1
MAX_SESSION_COOKIE_CHARS: Final = 8_192
MAX_CAPTCHA_TOKEN_CHARS: Final = 8_192
"""reCAPTCHA Enterprise tokens are about 2,000 characters; four times that leaves room for a longer format."""
MAX_TIME_ZONE_CHARS: Final = 64
SECRET_FIELDS: Final = frozenset({"recaptcha_token", "token", "session_cookie"})
"""Fields whose values never appear in a repr, a log line or an error message."""


RequestId = Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]
Channels = Annotated[list[Channel], Meta(min_length=1, max_length=MAX_CHANNELS)]
Position = Annotated[int, Meta(ge=0, le=MAX_POSITION)]
Prompt = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
        pattern=r"\S",
        description=f"text of 1 to {MAX_PROMPT_CHARS:,} characters, not all spaces",
    ),
]
ProfileId = Annotated[
    str,
    Meta(
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+\Z",
        description="a profile id of 1 to 100 letters, digits, '.', '_' or '-'",
    ),
]
Model = Annotated[
    str,
    Meta(
        max_length=100,
        pattern=r"^[a-z0-9_]+\Z",
        description="a Flow model key of 1 to 100 lowercase letters, digits or '_' (such as veo_3_1_t2v_fast)",
    ),
]
Seed = Annotated[int, Meta(ge=0, le=MAX_SEED)]
RequestKey = Annotated[str, Meta(min_length=1, max_length=MAX_REQUEST_KEY_CHARS)]
Token = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_CAPTCHA_TOKEN_CHARS,
        description=f"a reCAPTCHA token of 1 to {MAX_CAPTCHA_TOKEN_CHARS:,} characters",
    ),
]
Nonce = Annotated[
    str,
    Meta(
        min_length=22,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+\Z",
        description="a random nonce of 22 to 128 letters, digits, '-' or '_' (at least 128 bits)",
    ),
]
Proof = Annotated[
    str,
    Meta(pattern=r"^[0-9a-f]{64}\Z", description="an HMAC-SHA256 written as 64 lowercase hex digits"),
]
SessionCookie = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_SESSION_COOKIE_CHARS,
        pattern=r"^[!#-+\--:<-\[\]-~]+\Z",  # RFC 6265 cookie-octets: nothing that could end the value
        description=(
            f"a cookie value of 1 to {MAX_SESSION_COOKIE_CHARS:,} characters, without spaces, quotes, "
            "commas, semicolons or backslashes"
        ),
    ),
]
Cursor = Annotated[str, Meta(min_length=1, max_length=1_000)]
TimeZone = Annotated[
    str,
    Meta(
        max_length=MAX_TIME_ZONE_CHARS,
        pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*\Z",
        description=f"an IANA time zone name such as Europe/Paris, of at most {MAX_TIME_ZONE_CHARS} characters",
    ),
]

Search = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_HISTORY_SEARCH_CHARS,
        description=f"text of 1 to {MAX_HISTORY_SEARCH_CHARS} characters to find in prompts",
    ),
]
Day = Annotated[date, Meta(description="a calendar date written YYYY-MM-DD, such as 2025-06-01")]


class _Request(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True, tag_field="type"
):
    """Fields and behaviour every request shares; its reprs hide secret fields."""

    id: RequestId

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        fields = [("id", self.id)]
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name != "id":
                fields.append((name, "***" if name in SECRET_FIELDS and value is not None else value))
        return fields

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__rich_repr__())
        return f"{type(self).__name__}({fields})"


class Subscribe(_Request, frozen=True, tag="subscribe"):
    """Receive the channels' deltas, live from now or resumed after a position."""

    channels: Channels
    after: Position | None = None


class Unsubscribe(_Request, frozen=True, tag="unsubscribe"):
    """Stop receiving the channels' deltas."""

    channels: Channels


class Generate(_Request, frozen=True, tag="generate"):
    """Make one video from a prompt."""

    prompt: Prompt
    profile_id: ProfileId | None = None
    model: Model | None = None
    aspect_ratio: AspectRatio | None = None
    seed: Seed | None = None
    priority: Priority | None = None
    request_key: RequestKey | None = None
    recaptcha_token: Token | None = None


class BatchGenerate(_Request, frozen=True, tag="batch_generate"):
    """Make one video per prompt, submitted `delay_ms` apart; items' request keys are `KEY:index`."""

    prompts: Annotated[list[Prompt], Meta(min_length=1, max_length=MAX_BATCH_PROMPTS)]
    delay_ms: Annotated[int, Meta(ge=0, le=MAX_DELAY_MS)] = DEFAULT_DELAY_MS
    profile_id: ProfileId | None = None
    model: Model | None = None
    aspect_ratio: AspectRatio | None = None
    seed: Seed | None = None
    priority: Priority | None = None
    request_key: RequestKey | None = None
    recaptcha_token: Token | None = None


class Upscale(_Request, frozen=True, tag="upscale"):
    """Upscale a completed generation's video."""

    generation_id: UUID
    resolution: Resolution | None = None
    request_key: RequestKey | None = None
    recaptcha_token: Token | None = None


class Cancel(_Request, frozen=True, tag="cancel"):
    """Stop a generation; its status becomes `cancelled`."""

    generation_id: UUID


class Retry(_Request, frozen=True, tag="retry"):
    """Make a new generation with a failed or cancelled one's parameters."""

    generation_id: UUID


class GetStatus(_Request, frozen=True, tag="get_status"):
    """One generation's row."""

    generation_id: UUID


class GetStatuses(_Request, frozen=True, tag="get_statuses"):
    """The rows of the generations found among the ids."""

    generation_ids: Annotated[list[UUID], Meta(min_length=1, max_length=MAX_STATUS_IDS)]


class GetHistory(_Request, frozen=True, tag="get_history"):
    """A page of rows, newest first, grouped by day in a time zone; optionally only the rows whose prompt holds
    `search` (any case), whose status is `status`, created from day `since` through day `until` in `tz`."""

    limit: Annotated[int, Meta(ge=1, le=MAX_HISTORY_LIMIT)] = DEFAULT_HISTORY_LIMIT
    before: Cursor | None = None
    tz: TimeZone | None = None
    search: Search | None = None
    status: Status | None = None
    since: Day | None = None
    until: Day | None = None


class GetBatch(_Request, frozen=True, tag="get_batch"):
    """One batch's row."""

    batch_id: UUID


class GetAnalytics(_Request, frozen=True, tag="get_analytics"):
    """Counts by status, completion-time percentiles and failures by reason."""

    window: Literal["all", "1h"] = "all"


class Refresh(_Request, frozen=True, tag="refresh"):
    """Check a generation's status with its service (Flow or the Gemini API) now, and return its row."""

    generation_id: UUID


class QueueStatus(_Request, frozen=True, tag="queue_status"):
    """The relay's queue, budget and providers."""


class RegisterProvider(_Request, frozen=True, tag="register_provider"):
    """Offer this connection as a source of reCAPTCHA tokens (for one profile, or any).

    With `nonce` alone it registers nothing: the relay answers its nonce and its proof that it knows the provider
    token (`veo_protocol.provider_proof`). With `nonce`, `relay_nonce` and `proof` it registers once the provider's
    proof holds, on any connection, including one opened without a token.
    """

    profile_id: ProfileId | None = None
    nonce: Nonce | None = None
    relay_nonce: Nonce | None = None
    proof: Proof | None = None


class ProvideCaptchaToken(_Request, frozen=True, tag="provide_captcha_token"):
    """Answer a `captcha_request`."""

    request_id: RequestId
    token: Token


class GetProviderToken(_Request, frozen=True, tag="get_provider_token"):
    """The provider token, for pasting into the browser extension (only the client token may ask)."""


class ProvideSession(_Request, frozen=True, tag="provide_session"):
    """A token provider hands over its profile's labs session cookie (kept in memory, never stored)."""

    profile_id: ProfileId
    session_cookie: SessionCookie


Request: TypeAlias = (
    Subscribe
    | Unsubscribe
    | Generate
    | BatchGenerate
    | Upscale
    | Cancel
    | Retry
    | GetStatus
    | GetStatuses
    | GetHistory
    | GetBatch
    | GetAnalytics
    | Refresh
    | QueueStatus
    | RegisterProvider
    | ProvideCaptchaToken
    | ProvideSession
    | GetProviderToken
)

REQUEST_TYPES: Final[dict[str, type[Request]]] = {str(cls.__struct_config__.tag): cls for cls in get_args(Request)}
"""Each request `type` and its Struct, in the contract's order."""

_ENCODER: Final = msgspec.json.Encoder()


def encode_request(request: Request) -> bytes:
    """The JSON frame of a request (fields left at their defaults are omitted)."""
    return _ENCODER.encode(request)
