"""`/metrics` per account: each profile's state, active generations against its limit, gap, throttles and hard
blocks, as samples labelled with the profile's name (never its credentials).

Each figure is one row of `ACCOUNT_FIGURES`, read from the account's `queue_status` entry: a field the
relay adds to the accounts (credits, a quota-out) is shown by adding its row there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from actors.queue_status import AccountStatus

__all__ = ["ACCOUNT_FIGURES", "ACCOUNT_STATES", "Family", "account_families", "labelled"]

logger = logging.getLogger(__name__)

Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]
"""(name, type, help, [(labels, value)]) of one labelled metric."""

ACCOUNT_STATES = ("ready", "paused", "resting", "out_of_quota")
"""The states `veo_account_state` always has a sample for (1 for the account's own, 0 for the others); an
account in another state gets a sample for that one too."""

ACCOUNT_FIGURES: tuple[tuple[str, str, str, Callable[[AccountStatus], float | None]], ...] = (
    ("veo_account_active", "gauge", "The account's generations submitted and not yet finished.", lambda a: a.active),
    (
        "veo_account_limit",
        "gauge",
        "The account's limit of active generations as learned (absent: no limit of its own).",
        lambda a: a.limit,
    ),
    (
        "veo_account_gap_seconds",
        "gauge",
        "Seconds between two submissions of the account, as learned.",
        lambda a: a.gap,
    ),
    (
        "veo_account_throttles_total",
        "counter",
        "Flow's throttles of the account (USER_REQUESTS_THROTTLED) since the relay started.",
        lambda a: a.throttles_total,
    ),
    (
        "veo_account_blocks_total",
        "counter",
        "Flow's hard blocks of the account (UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC) since the relay started.",
        lambda a: a.blocks_total,
    ),
    (
        "veo_account_done_last_24h",
        "gauge",
        "The account's jobs that completed within the last 24 hours.",
        lambda a: a.done_last_24h,
    ),
    (
        "veo_account_credits",
        "gauge",
        "The account's credit balance as last read from Flow, less submissions since (absent: not known).",
        lambda a: a.credits,
    ),
    (
        "veo_account_models_out_of_quota",
        "gauge",
        "Models whose daily quota on the account is used up (PER_MODEL_DAILY_QUOTA_REACHED); it takes other models.",
        lambda a: len(a.models_out_of_quota),
    ),
)


def account_families(accounts: tuple[AccountStatus, ...]) -> list[Family]:
    """The per-account metrics of these accounts (none without accounts)."""
    if not accounts:
        return []
    states: list[tuple[dict[str, str], float]] = []
    for account in accounts:
        shown = ACCOUNT_STATES if account.state in ACCOUNT_STATES else (*ACCOUNT_STATES, account.state)
        states += [({"profile": account.profile_id, "state": s}, 1 if s == account.state else 0) for s in shown]
    families: list[Family] = [
        (
            "veo_account_state",
            "gauge",
            "1 for the state the account is in (ready, paused, resting, out_of_quota).",
            states,
        )
    ]
    for name, kind, help_text, figure in ACCOUNT_FIGURES:
        samples = [({"profile": a.profile_id}, value) for a in accounts if (value := figure(a)) is not None]
        families.append((name, kind, help_text, samples))
    return families


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labelled(name: str, labels: dict[str, str]) -> str:
    """`name{key="value",…}` with the values escaped as the Prometheus text format wants."""
    return name + "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in labels.items()) + "}"
