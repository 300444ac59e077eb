"""Per-account limits as Flow enforces them (flow-api.md §2.2, §5), with each account's own audit.

An account is the Google user behind a request's bearer token: a token the session endpoint minted for a
session cookie belongs to that cookie's account (``session:<digest>``), so refreshing the token does not
make a new account; any other bearer token is an account of its own (``bearer:<digest>``). The project id
is not the account: one account holds several projects.

Each generate or upscale call of an account is checked in this order, all limits off when 0:

1. hard-blocked (until ``blocked_until``): 429 ``PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC``;
2. quota used up (``quota`` generations): 429 ``PUBLIC_ERROR_USER_QUOTA_REACHED``; a model's daily quota
   used up (``model_quotas``: generations of that model): 429 ``PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED``;
3. ``max_active`` generations not yet terminal (upscales count), or less than ``gap_s`` since the
   account's previous submission, whatever that one's answer: 429 ``PUBLIC_ERROR_USER_REQUESTS_THROTTLED``;
4. after captcha and validation, credits that cannot pay: 429 ``PUBLIC_ERROR_USER_QUOTA_REACHED``.

A refused call creates nothing. ``throttles_before_block`` throttles within ``window_s`` block the account
for ``block_s`` from the last of them; calls during a block do not lengthen it; a block forgets the
throttles before it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import msgspec

from veo_simulator.auth import bearer_account, session_account
from veo_simulator.changes import ChangeSet
from veo_simulator.envelope import account_throttled, model_quota_reached, quota_reached, too_much_traffic
from veo_simulator.errors import ConfigError
from veo_simulator.state import TERMINAL, Operation, OperationBook

__all__ = [
    "Account",
    "AccountBook",
    "AccountLimits",
    "ThrottleReason",
]

logger = logging.getLogger(__name__)

ThrottleReason = Literal["active", "gap"]


@dataclass(frozen=True)
class AccountLimits:
    """Limits every account gets (0: off); ``quotas`` overrides the quota per credential (token or cookie);
    ``model_quotas`` holds each account to that many generations of a model (its daily quota)."""

    max_active: int = 0
    gap_s: float = 0.0
    throttles_before_block: int = 0
    window_s: float = 60.0
    block_s: float = 600.0
    quota: int = 0
    quotas: Mapping[str, int] = field(default_factory=dict)
    model_quotas: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        numbers = {
            "max_active": self.max_active,
            "gap": self.gap_s,
            "throttles_before_block": self.throttles_before_block,
            "quota": self.quota,
        }
        for name, value in {**numbers, **self.quotas, **self.model_quotas}.items():
            if value < 0:
                raise ConfigError(f"account {name} must not be negative, got {value}")
        if self.window_s <= 0 or self.block_s <= 0:
            raise ConfigError("account throttle window and block length must be positive")

    def changed(self, changes: Mapping[str, object]) -> AccountLimits:
        """These limits with some replaced (names as ``as_dict`` shows them; ``quotas`` by credential)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown account limit(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        current = {name: getattr(self, name) for name in known}
        try:
            return msgspec.convert({**current, **changes}, AccountLimits, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"bad account limits: {exc}") from None

    def quota_of(self, account: str) -> int:
        """The quota of this account id (0: unlimited)."""
        for credential, quota in self.quotas.items():
            if account in (bearer_account(credential), session_account(credential)):
                return quota
        return self.quota

    def as_dict(self) -> dict[str, Any]:
        """The limits as the audit and ``/_sim/accounts`` show them (quota overrides by account id)."""
        overrides = {bearer_account(c): q for c, q in self.quotas.items()}
        overrides.update({session_account(c): q for c, q in self.quotas.items()})
        return {
            "max_active": self.max_active,
            "gap_s": self.gap_s,
            "throttles_before_block": self.throttles_before_block,
            "window_s": self.window_s,
            "block_s": self.block_s,
            "quota": self.quota,
            "quota_overrides": overrides,
            "model_quotas": dict(self.model_quotas),
        }


class Account(msgspec.Struct, kw_only=True):
    """One account's limiter state and audit figures (kept in the state file)."""

    id: str
    quota_used: int = 0
    last_submission_at: float | None = None
    throttle_times: list[float] = []
    blocked_until: float | None = None
    submissions: int = 0
    submissions_accepted: int = 0
    generations_accepted: int = 0
    throttled: dict[str, int] = {}
    blocked_answers: int = 0
    blocks: list[tuple[float, float]] = []
    quota_refusals: int = 0
    model_quota_used: dict[str, int] = {}
    """Generations accepted, by model."""
    model_quota_refusals: dict[str, int] = {}
    """Submissions refused for their model's daily quota, by model."""
    max_active_seen: int = 0
    min_gap_seen: float | None = None
    credits_spent: int = 0

    def copy(self) -> Account:
        """A copy sharing nothing mutable (the state file encodes it outside the lock)."""
        return msgspec.structs.replace(
            self,
            throttle_times=list(self.throttle_times),
            throttled=dict(self.throttled),
            blocks=list(self.blocks),
            model_quota_used=dict(self.model_quota_used),
            model_quota_refusals=dict(self.model_quota_refusals),
        )

    def report(self, active: int, quota: int, credits: int, now: float) -> dict[str, Any]:
        """The account as ``GET /_sim/audit`` lists it under ``accounts``."""
        blocked = self.blocked_until is not None and now < self.blocked_until
        return {
            "submissions": self.submissions,
            "submissions_accepted": self.submissions_accepted,
            "generations_accepted": self.generations_accepted,
            "throttled": dict(self.throttled),
            "throttled_total": sum(self.throttled.values()),
            "blocked_answers": self.blocked_answers,
            "blocks": [{"start": start, "end": end} for start, end in self.blocks],
            "blocked_until": self.blocked_until if blocked else None,
            "quota_used": self.quota_used,
            "quota": quota or None,
            "quota_refusals": self.quota_refusals,
            "model_quota_used": dict(self.model_quota_used),
            "model_quota_refusals": dict(self.model_quota_refusals),
            "active": active,
            "max_active_seen": self.max_active_seen,
            "min_gap_seen": self.min_gap_seen,
            "credits": credits,
        }


class AccountBook:
    """Every account seen, the operations each has running, its credits, and the limits they are held to.

    Each account starts with ``credits`` of its own (``GET /v1/credits`` and ``remainingCredits`` answer
    the balance of the requesting account).
    """

    def __init__(
        self, limits: AccountLimits, book: OperationBook, credits: int, changes: ChangeSet | None = None
    ) -> None:
        self.limits = limits
        self._credits = credits
        self._book = book
        self._changes = changes if changes is not None else ChangeSet()
        self._accounts: dict[str, Account] = {}
        self._running: dict[str, set[str]] = {}

    def admit(self, account_id: str, models: Sequence[str], now: float) -> None:
        """Check one submission of a generation of each of ``models`` at ``now``; raises the ApiError Flow would
        answer."""
        account = self._account(account_id)
        self._changes.account(account_id)
        account.submissions += 1
        previous, account.last_submission_at = account.last_submission_at, now
        if previous is not None:
            gap = now - previous
            account.min_gap_seen = gap if account.min_gap_seen is None else min(account.min_gap_seen, gap)
        if account.blocked_until is not None:
            if now < account.blocked_until:
                account.blocked_answers += 1
                raise too_much_traffic()
            account.blocked_until = None
        limits = self.limits
        generations = len(models)
        quota = limits.quota_of(account_id)
        if quota and account.quota_used + generations > quota:
            account.quota_refusals += 1
            raise quota_reached()
        for model, count in Counter(models).items():
            allowed = limits.model_quotas.get(model, 0)
            if allowed and account.model_quota_used.get(model, 0) + count > allowed:
                account.model_quota_refusals[model] = account.model_quota_refusals.get(model, 0) + 1
                raise model_quota_reached()
        if limits.max_active and self.active(account_id) + generations > limits.max_active:
            self._throttle(account, "active", now)
        if limits.gap_s and previous is not None and now - previous < limits.gap_s:
            self._throttle(account, "gap", now)

    def balance(self, account_id: str) -> int:
        """The account's credits left."""
        account = self._accounts.get(account_id)
        return self._credits - (account.credits_spent if account is not None else 0)

    def spend(self, account_id: str, cost: int) -> None:
        """Debit ``cost`` credits; 429 ``PUBLIC_ERROR_USER_QUOTA_REACHED`` when the balance cannot pay it."""
        if cost > self.balance(account_id):
            self._account(account_id).quota_refusals += 1
            raise quota_reached()
        self._account(account_id).credits_spent += cost
        self._changes.account(account_id)

    def accepted(self, account_id: str, operations: Sequence[Operation]) -> None:
        """A submission admitted by ``admit`` created ``operations``."""
        account = self._account(account_id)
        running = self._running.setdefault(account_id, set())
        names = [op.name for op in operations]
        running.update(names)
        account.submissions_accepted += 1
        account.generations_accepted += len(names)
        account.quota_used += len(names)
        for operation in operations:
            account.model_quota_used[operation.model] = account.model_quota_used.get(operation.model, 0) + 1
        account.max_active_seen = max(account.max_active_seen, self.active(account_id))
        self._changes.account(account_id)

    def active(self, account_id: str) -> int:
        """The account's operations not yet terminal (forgotten ones no longer count)."""
        running = self._running.get(account_id)
        if not running:
            return 0
        for name in list(running):
            operation = self._book.get(name)
            if operation is None or self._book.status(operation) in TERMINAL:
                running.discard(name)
        return len(running)

    def report(self, now: float) -> dict[str, Any]:
        """Every account's figures, by account id."""
        return {
            account_id: account.report(
                self.active(account_id), self.limits.quota_of(account_id), self.balance(account_id), now
            )
            for account_id, account in sorted(self._accounts.items())
        }

    def get(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        return self._accounts.get(account_id)

    def all(self) -> list[Account]:
        """Every account (copies, for the state file)."""
        return [account.copy() for account in self._accounts.values()]

    def restore(self, accounts: Iterable[Account], operations: Iterable[Operation]) -> None:
        """Take back saved accounts and the operations each had running."""
        for account in accounts:
            self._accounts[account.id] = account
        for operation in operations:
            if operation.account:
                self._running.setdefault(operation.account, set()).add(operation.name)

    def _account(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = Account(id=account_id)
        return account

    def _throttle(self, account: Account, reason: ThrottleReason, now: float) -> None:
        account.throttled[reason] = account.throttled.get(reason, 0) + 1
        recent = [t for t in account.throttle_times if t > now - self.limits.window_s]
        recent.append(now)
        account.throttle_times = recent
        limit = self.limits.throttles_before_block
        if limit and len(recent) >= limit:
            end = now + self.limits.block_s
            account.blocked_until = end
            account.blocks.append((now, end))
            account.throttle_times = []
            logger.info("account %s hard-blocked until %.1f after %d throttles", account.id, end, len(recent))
        raise account_throttled()
