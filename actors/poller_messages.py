"""The messages the PollerActor takes: a small union of frozen dataclasses, dispatched with `match`.

`Told` messages are sent without waiting and numbered by the supervisor (`Numbered`), so a published
snapshot can say which of them it has seen; `Cancel` and `ReadStatus` are asked, and answered.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from uuid import UUID

__all__ = [
    "Cancel",
    "Crash",
    "Enqueue",
    "Numbered",
    "PollerMessage",
    "ProvideSession",
    "ReadStatus",
    "Refresh",
    "Reserve",
    "ResultsReady",
    "Tick",
    "TokenReady",
    "Told",
]


@dataclass(frozen=True, slots=True)
class Enqueue:
    """New generations were recorded: queue them for submission."""

    generation_ids: tuple[UUID, ...]
    token: str | None = field(default=None, repr=False)
    delay_s: float | None = None


@dataclass(frozen=True, slots=True)
class Refresh:
    """A manual refresh at top priority; `done` resolves once the check is recorded."""

    generation_id: UUID
    done: Future[None] = field(compare=False)


@dataclass(frozen=True, slots=True)
class Reserve:
    """A call made outside the poller (a Gemini video download) asks for one start of the budget; `done`
    resolves when it may be sent."""

    done: Future[None] = field(compare=False)


@dataclass(frozen=True, slots=True)
class ProvideSession:
    """A token provider's fresh session cookie for its profile."""

    profile_id: str
    session_cookie: str = field(repr=False)
    provider_id: str


@dataclass(frozen=True, slots=True)
class TokenReady:
    """A reCAPTCHA token arrived for a job (None: no provider could answer)."""

    generation_id: UUID
    token: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class Tick:
    """The ticker's wake-up."""


@dataclass(frozen=True, slots=True)
class ResultsReady:
    """A Flow call finished, or the providers changed: run the loop again."""


@dataclass(frozen=True, slots=True)
class Crash:
    """Fault injection for tests and chaos runs: fail as a bug would."""

    message: str


Told = Enqueue | Refresh | Reserve | ProvideSession | TokenReady | Tick | ResultsReady | Crash


@dataclass(frozen=True, slots=True)
class Numbered:
    """The supervisor's `seen`-th told message."""

    seen: int
    message: Told


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel a job; answered True, or False when the poller has no active job with that id."""

    generation_id: UUID


@dataclass(frozen=True, slots=True)
class ReadStatus:
    """Answered with the `queue_status` now, behind every message already in the inbox."""


PollerMessage = Numbered | Cancel | ReadStatus
