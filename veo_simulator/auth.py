"""Bearer tokens handed out by the session endpoint, and single-use reCAPTCHA tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable

import msgspec

from veo_simulator.changes import ChangeSet

__all__ = [
    "AuthState",
    "CaptchaBook",
    "TokenBook",
    "bearer_account",
    "digest",
    "digest_prefix",
    "session_account",
]

logger = logging.getLogger(__name__)

_PREFIX_CHARS = 12
_SESSIONS_REMEMBERED = 1_000


def digest(secret: str) -> str:
    """sha256 hex of a secret: what the simulator keeps instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digest_prefix(secret: str) -> str:
    """A short sha256 prefix of a secret, for the audit."""
    return digest(secret)[:_PREFIX_CHARS]


def bearer_account(token: str) -> str:
    """The account id of a bearer token the simulator did not mint: the token is the account."""
    return "bearer:" + digest_prefix(token)


def session_account(cookie: str) -> str:
    """The account id of a session cookie, and of every access token minted for it."""
    return _session_account(digest(cookie))


def _session_account(cookie_digest: str) -> str:
    return "session:" + cookie_digest[:_PREFIX_CHARS]


def _mint() -> str:
    return "ya29.sim-" + secrets.token_urlsafe(24)


class AuthState(msgspec.Struct, kw_only=True):
    """What survives a restart: current token per session cookie, expired and seen-token digests."""

    sessions: dict[str, str] = {}
    expired: list[str] = []
    captcha_seen: list[str] = []


class TokenBook:
    """Any bearer token is good unless the simulator expired it; sessions mint fresh ones."""

    def __init__(self, mint: Callable[[], str] = _mint, changes: ChangeSet | None = None) -> None:
        self._mint = mint
        self._changes = changes if changes is not None else ChangeSet()
        self._sessions: dict[str, str] = {}
        self._minted: dict[str, str] = {}
        """Digest of every token minted (or loaded) -> digest of its session cookie."""
        self._expired: set[str] = set()
        self.issued = 0
        self.expired_count = 0
        self.cookies_presented: deque[str] = deque(maxlen=_SESSIONS_REMEMBERED)
        """Digest prefixes of the session cookies the session endpoint was asked with, oldest first."""

    def is_valid(self, token: str) -> bool:
        """False for an empty token or one the simulator expired."""
        return bool(token) and digest(token) not in self._expired

    def expire(self, token: str) -> None:
        """Invalidate a token (the ``401`` fault)."""
        if not token:
            return
        key = digest(token)
        if key not in self._expired:
            self._expired.add(key)
            self._changes.expire(key)
            self.expired_count += 1

    def session_token(self, cookie: str) -> str:
        """The access token of this session cookie, a new one when it has none or it expired."""
        key = digest(cookie)
        self.cookies_presented.append(key[:_PREFIX_CHARS])
        token = self._sessions.get(key)
        if token is None or not self.is_valid(token):
            token = self._mint()
            self._sessions[key] = token
            self._minted[digest(token)] = key
            self._changes.session(key)
            self.issued += 1
        return token

    def account_of(self, token: str) -> str:
        """The account a bearer token acts for: its session cookie's when minted for one, else its own."""
        cookie = self._minted.get(digest(token))
        return _session_account(cookie) if cookie is not None else bearer_account(token)

    def session_tokens(self, cookie_digests: Iterable[str]) -> dict[str, str]:
        """The current access token of each of these session cookies (by digest)."""
        return {key: self._sessions[key] for key in cookie_digests if key in self._sessions}

    def dump(self, state: AuthState) -> None:
        """Write sessions and expired digests into ``state``."""
        state.sessions = dict(self._sessions)
        state.expired = sorted(self._expired)

    def load(self, state: AuthState) -> None:
        """Take sessions and expired digests from ``state``."""
        self._sessions.update(state.sessions)
        self._minted.update((digest(token), key) for key, token in state.sessions.items())
        self._expired.update(state.expired)


class CaptchaBook:
    """reCAPTCHA tokens are single-use: remembers the digest of every token seen."""

    def __init__(self, changes: ChangeSet | None = None) -> None:
        self._changes = changes if changes is not None else ChangeSet()
        self._seen: set[str] = set()
        self.rejected = 0
        self.by_scene: dict[str, list[str]] = {}

    @property
    def seen_count(self) -> int:
        """How many distinct tokens were presented."""
        return len(self._seen)

    def consume(self, token: str) -> bool:
        """Record a presented token; True when it is non-empty and was never seen before."""
        if not token:
            return False
        key = digest(token)
        if key in self._seen:
            return False
        self._seen.add(key)
        self._changes.captcha(key)
        return True

    def record_use(self, scene_id: str, token: str) -> None:
        """Remember (as a digest prefix) which token an accepted submission for a scene carried."""
        if token:
            self.by_scene.setdefault(scene_id, []).append(digest_prefix(token))

    def dump(self, state: AuthState) -> None:
        """Write seen digests into ``state``."""
        state.captcha_seen = sorted(self._seen)

    def load(self, state: AuthState) -> None:
        """Take seen digests from ``state``."""
        self._seen.update(state.captcha_seen)
