"""What changed in the simulator's persistent state since the state file last took it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["ChangeSet"]


@dataclass(slots=True)
class ChangeSet:
    """Keys of what changed, collected only while ``enabled`` (a state file is kept); ``take`` hands them over.

    Only keys and digests are kept: the state file reads the current values when it saves, so a save
    costs what changed since the last one, not everything the simulator ever held.
    """

    enabled: bool = False
    operations: set[str] = field(default_factory=set)
    """Names of operations created or changed."""
    sessions: set[str] = field(default_factory=set)
    """Digests of session cookies whose access token changed."""
    expired: list[str] = field(default_factory=list)
    """Digests of tokens newly expired."""
    captcha_seen: list[str] = field(default_factory=list)
    """Digests of reCAPTCHA tokens newly seen."""
    scenes: set[str] = field(default_factory=set)
    """Scene ids whose generate call count changed."""
    forgotten: set[str] = field(default_factory=set)
    """Names of operations forgotten (``/_sim/operations/{name}`` DELETE)."""
    accounts: set[str] = field(default_factory=set)
    """Ids of accounts whose limiter state or figures changed."""
    gemini: set[str] = field(default_factory=set)
    """Ids of Gemini operations created or changed."""

    def operation(self, name: str) -> None:
        """An operation was created or one of its fields changed."""
        if self.enabled:
            self.operations.add(name)

    def session(self, cookie_digest: str) -> None:
        """A session cookie got a new access token."""
        if self.enabled:
            self.sessions.add(cookie_digest)

    def expire(self, token_digest: str) -> None:
        """A token was expired."""
        if self.enabled:
            self.expired.append(token_digest)

    def captcha(self, token_digest: str) -> None:
        """A reCAPTCHA token was seen for the first time."""
        if self.enabled:
            self.captcha_seen.append(token_digest)

    def generate_calls(self, scene_ids: Iterable[str]) -> None:
        """Generate calls created operations for these scenes."""
        if self.enabled:
            self.scenes.update(scene_ids)

    def forget(self, name: str) -> None:
        """An operation was forgotten."""
        if self.enabled:
            self.forgotten.add(name)

    def account(self, account_id: str) -> None:
        """An account's limiter state or figures changed."""
        if self.enabled:
            self.accounts.add(account_id)

    def gemini_operation(self, operation_id: str) -> None:
        """A Gemini operation was created or one of its fields changed."""
        if self.enabled:
            self.gemini.add(operation_id)

    def take(self) -> ChangeSet:
        """What was collected so far; collecting starts afresh."""
        taken = ChangeSet(
            True,
            self.operations,
            self.sessions,
            self.expired,
            self.captcha_seen,
            self.scenes,
            self.forgotten,
            self.accounts,
            self.gemini,
        )
        self.operations, self.sessions, self.expired = set(), set(), []
        self.captcha_seen, self.scenes, self.forgotten, self.accounts, self.gemini = [], set(), set(), set(), set()
        return taken

    def __bool__(self) -> bool:
        return bool(
            self.operations
            or self.sessions
            or self.expired
            or self.captcha_seen
            or self.scenes
            or self.forgotten
            or self.accounts
            or self.gemini
        )
