"""The reCAPTCHA token broker: connected providers (browser extensions) mint single-use tokens on request.

The PollerActor asks for a token when a submission is due and has none; the broker sends a
`captcha_request` to one provider serving that profile (round-robin, so several providers share the
load) and hands the answer back. A request whose provider disconnects or does not answer in time goes
to another provider. Tokens pass through and are never stored or logged.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from actors.clock import Clock

__all__ = ["TokenBroker"]

logger = logging.getLogger(__name__)

ACTION_VIDEO = "VIDEO_GENERATION"
Send = Callable[[str, str, str], None]
"""send(request_id, profile_id, action): push a captcha_request to one provider (must not block)."""
Deliver = Callable[[UUID, str | None], None]
"""deliver(generation_id, token or None when no provider could answer)."""


@dataclass(slots=True)
class _Provider:
    provider_id: str
    profile_id: str | None  # None: serves every profile
    send: Send
    outstanding: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Pending:
    request_id: str
    generation_id: UUID
    profile_id: str
    action: str
    deliver: Deliver
    provider_id: str | None = None
    sent_at: float = 0.0
    attempts: int = 0


class TokenBroker:
    """Thread-safe: providers register from the server's loop, the poller asks from its actor thread."""

    def __init__(self, *, clock: Clock, answer_timeout: float = 30.0, max_attempts: int = 3) -> None:
        self._clock = clock
        self.answer_timeout = answer_timeout
        self.max_attempts = max_attempts
        self._lock = threading.Lock()
        self._providers: dict[str, _Provider] = {}
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` when a provider connects (waiting submissions can proceed)."""
        self._listeners.append(listener)

    # --- providers (server side) --------------------------------------------------------------------

    def register(self, profile_id: str | None, send: Send) -> str:
        """A connection offers tokens for `profile_id` (None: any profile); returns its provider id."""
        with self._lock:
            provider_id = f"p{next(self._ids)}"
            self._providers[provider_id] = _Provider(provider_id, profile_id, send)
        logger.info("token provider %s registered for %s", provider_id, profile_id or "every profile")
        for listener in list(self._listeners):
            listener()
        return provider_id

    def unregister(self, provider_id: str) -> None:
        """The provider's connection closed: its outstanding requests go to other providers."""
        with self._lock:
            provider = self._providers.pop(provider_id, None)
            orphans = [self._pending[r] for r in provider.outstanding if r in self._pending] if provider else []
        for pending in orphans:
            self._dispatch(pending)

    def profile_of(self, provider_id: str) -> str | None:
        """The profile a registered provider serves (None: every profile); KeyError when it is not registered."""
        with self._lock:
            return self._providers[provider_id].profile_id

    def provide(self, provider_id: str, request_id: str, token: str) -> bool:
        """A provider answers; False when the request is unknown, already answered, or not asked of it."""
        with self._lock:
            pending = self._pending.get(request_id)
            if pending is None or pending.provider_id != provider_id:
                return False
            del self._pending[request_id]
            provider = self._providers.get(provider_id)
            if provider is not None:
                provider.outstanding.discard(request_id)
        pending.deliver(pending.generation_id, token)
        return True

    # --- the poller's side --------------------------------------------------------------------------

    def providers(self, profile_id: str | None = None) -> int:
        """How many providers serve `profile_id` (all providers when None)."""
        with self._lock:
            return sum(1 for p in self._providers.values() if profile_id is None or p.profile_id in (None, profile_id))

    def request(self, generation_id: UUID, profile_id: str, deliver: Deliver, action: str = ACTION_VIDEO) -> bool:
        """Ask a provider for a token; False (nothing asked) when no provider serves the profile."""
        pending = _Pending(f"captcha-{next(self._ids)}", generation_id, profile_id, action, deliver)
        with self._lock:
            self._pending[pending.request_id] = pending
        if self._dispatch(pending):
            return True
        with self._lock:
            self._pending.pop(pending.request_id, None)
        return False

    def expire(self) -> float | None:
        """Re-ask requests unanswered for `answer_timeout`; returns when the next one would expire."""
        now = self._clock()
        with self._lock:
            late = [p for p in self._pending.values() if p.provider_id and now - p.sent_at >= self.answer_timeout]
            for pending in late:
                provider = self._providers.get(pending.provider_id or "")
                if provider is not None:
                    provider.outstanding.discard(pending.request_id)
        for pending in late:
            logger.warning("token request %s got no answer in %.0f s", pending.request_id, self.answer_timeout)
            self._dispatch(pending)
        with self._lock:
            times = [p.sent_at + self.answer_timeout for p in self._pending.values() if p.provider_id]
        return min(times) if times else None

    def _dispatch(self, pending: _Pending) -> bool:
        """Send the request to the next provider for its profile; on none left, deliver None."""
        with self._lock:
            candidates = [p for p in self._providers.values() if p.profile_id in (None, pending.profile_id)]
            if not candidates or pending.attempts >= self.max_attempts:
                pending.provider_id = None
                self._pending.pop(pending.request_id, None)
                chosen = None
            else:
                chosen = candidates[next(self._turn) % len(candidates)]
                pending.provider_id = chosen.provider_id
                pending.sent_at = self._clock()
                pending.attempts += 1
                chosen.outstanding.add(pending.request_id)
        if chosen is None:
            if pending.attempts:
                pending.deliver(pending.generation_id, None)
            return False
        try:
            chosen.send(pending.request_id, pending.profile_id, pending.action)
        except Exception:
            logger.exception("sending a token request to provider %s failed", chosen.provider_id)
            self.unregister(chosen.provider_id)
        return True
