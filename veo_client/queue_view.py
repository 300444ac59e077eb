"""`veo queue` for people: the relay's jobs, request budget, token providers, paused profiles and accounts, with
units, instead of a dump of `queue_status` (which `--json` prints as it is)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from veo_client.words import duration

__all__ = ["queue_text"]

logger = logging.getLogger(__name__)

_JOBS = (
    ("queued", "queued"),
    ("waiting_token", "waiting for a token"),
    ("submitting", "submitting"),
    ("pending", "accepted, not running yet"),
    ("processing", "processing"),
)
_LABEL = 11


def _number(value: Any) -> int | float:
    return value if isinstance(value, int | float) else 0


def _plural(count: int | float, one: str, many: str) -> str:
    return f"{count:g} {one if count == 1 else many}"


def _line(label: str, text: str) -> str:
    return f"{label:<{_LABEL}}{text}"


def _jobs(state: Mapping[str, Any]) -> str:
    return ", ".join(f"{_number(state.get(key)):g} {label}" for key, label in _JOBS)


def _budget(state: Mapping[str, Any]) -> list[str]:
    budget = state.get("budget")
    limits = budget if isinstance(budget, Mapping) else {}
    rate, most = limits.get("rate"), limits.get("max_in_flight")
    used = _number(state.get("requests_last_second"))
    flying = _number(state.get("in_flight"))
    lines = [
        _line(
            "requests",
            f"{used:g} of {rate:g} requests/s used in the last second" if rate else f"{used:g} in the last second",
        ),
        _line("in flight", f"{flying:g} of {most:g} calls out at once" if most else f"{flying:g} calls out"),
    ]
    throttled = _number(state.get("throttled"))
    if throttled:
        lines.append(_line("throttled", f"answered 429 (too many requests) {_plural(throttled, 'time', 'times')}"))
    return lines


def _providers(state: Mapping[str, Any]) -> str:
    count = _number(state.get("providers"))
    if not count:
        return _line("tokens", "no token provider connected (the browser extension supplies reCAPTCHA tokens)")
    return _line("tokens", f"{_plural(count, 'token provider', 'token providers')} connected")


def _paused(state: Mapping[str, Any], now: datetime) -> list[str]:
    """The paused profiles, for a relay that does not list its accounts (the accounts say their own pauses)."""
    if state.get("accounts"):
        return []
    paused = [p for p in state.get("paused_profiles") or [] if isinstance(p, Mapping)]
    if not paused:
        return [_line("paused", "no profile is paused")]
    lines = [_line("paused", f"{_plural(len(paused), 'profile', 'profiles')}:")]
    for pause in paused:
        why = pause.get("reason") or "no reason given"
        lines.append(f"{'':<{_LABEL}}  {pause.get('profile_id')}: {why}; {_until(pause.get('seconds_left'), now)}")
    return lines


def _until(seconds_left: Any, now: datetime) -> str:
    """`until 12:03:05 (in 2 min 5 s)`, the clock time in local time."""
    left = _number(seconds_left)
    return f"until {(now + timedelta(seconds=left)).astimezone().strftime('%H:%M:%S')} (in {duration(left)})"


def _state(account: Mapping[str, Any], now: datetime) -> str:
    """`ready`, or `paused until 12:03:05 (in 2 min 5 s): why`; a state word not known here is shown as it is."""
    state = str(account.get("state") or "unknown")
    words = _STATES.get(state, state.replace("_", " "))
    if account.get("seconds_left") is not None:
        words += f" {_until(account['seconds_left'], now)}"
    if account.get("reason"):
        words += f": {account['reason']}"
    return words


def _models_out(account: Mapping[str, Any], now: datetime) -> str:
    """`; veo_3_1_t2v_fast out of its daily quota until 12:03:05 (in 2 h)` for each model out on the account (its
    other models go on), else nothing; an instant that cannot be read is shown as it is."""
    out = account.get("models_out_of_quota")
    if not isinstance(out, Mapping):
        return ""
    words = ""
    for model, until in out.items():
        try:
            left = (datetime.fromisoformat(str(until)) - now).total_seconds()
        except (TypeError, ValueError):  # not ISO-8601, or without a zone
            words += f"; {model} out of its daily quota until {until}"
            continue
        words += f"; {model} out of its daily quota {_until(left, now)}"
    return words


def _active(account: Mapping[str, Any]) -> str | None:
    active, limit, configured = account.get("active"), account.get("limit"), account.get("configured_limit")
    if active is None:
        return None
    if limit is None:
        return f"{active} active (no limit of its own)"
    lowered = f", lowered from {configured} after throttles" if configured is not None and configured != limit else ""
    return f"{active} of {limit} active{lowered}"


def _gap(account: Mapping[str, Any]) -> str | None:
    gap, configured = account.get("gap"), account.get("configured_gap")
    if gap is None:
        return None
    widened = f", widened from {configured:g} s" if isinstance(configured, int | float) and configured != gap else ""
    return f"submissions {gap:g} s apart{widened}"


def _throttles(account: Mapping[str, Any]) -> str | None:
    hour, total, blocks = (account.get(key) for key in ("throttles_last_hour", "throttles_total", "blocks_total"))
    if hour is None and total is None and blocks is None:
        return None
    words = _plural(_number(hour), "throttle", "throttles") + " in the last hour"
    if total is not None:
        words += f" ({_number(total):g} since start)"
    return words + f", {_plural(_number(blocks), 'hard block', 'hard blocks')}" if blocks is not None else words


def _done(account: Mapping[str, Any]) -> str | None:
    done = account.get("done_last_24h")
    return None if done is None else f"{_number(done):g} done in the last 24 h"


def _pool(account: Mapping[str, Any]) -> str | None:
    return "only requests naming it (pool = false)" if account.get("pool") is False else None


_STATES = {"resting": "resting after a hard block", "out_of_quota": "out of quota"}
"""State words that read better spelled out; others are shown with spaces for underscores."""
_PHRASES: tuple[tuple[tuple[str, ...], Callable[[Mapping[str, Any]], str | None]], ...] = (
    (("active", "limit", "configured_limit"), _active),
    (("gap", "configured_gap"), _gap),
    (("throttles_last_hour", "throttles_total", "blocks_total"), _throttles),
    (("done_last_24h",), _done),
    (("pool",), _pool),
)
"""The account fields said in words, and how; a field not named here (one a newer relay sends) is shown as
`name value` after them."""
_IN_STATE = frozenset({"profile_id", "state", "seconds_left", "reason", "models_out_of_quota"})


def _account(account: Mapping[str, Any], now: datetime) -> list[str]:
    """Two lines: its name and state, then its figures."""
    said = {key for keys, _ in _PHRASES for key in keys} | _IN_STATE
    figures = [phrase for _, say in _PHRASES if (phrase := say(account)) is not None]
    figures += [
        f"{key.replace('_', ' ')} {value}"
        for key, value in account.items()
        if key not in said and value is not None and not isinstance(value, Mapping | list)
    ]
    state = _state(account, now) + _models_out(account, now)
    lines = [f"{'':<{_LABEL}}  {account.get('profile_id') or '?'}: {state}"]
    return lines + ([f"{'':<{_LABEL}}    {'; '.join(figures)}"] if figures else [])


def _accounts(state: Mapping[str, Any], now: datetime) -> list[str]:
    accounts = [a for a in state.get("accounts") or [] if isinstance(a, Mapping)]
    if not accounts:
        return []
    lines = [_line("accounts", f"{_plural(len(accounts), 'account', 'accounts')}:")]
    for account in accounts:
        lines += _account(account, now)
    if waiting := state.get("waiting_for_accounts"):
        lines.append(_line("waiting", str(waiting)))
    return lines


def _errors(state: Mapping[str, Any]) -> list[str]:
    errors = state.get("errors")
    if not isinstance(errors, Mapping) or not errors:
        return []
    shown = ", ".join(f"{kind} x{count}" for kind, count in errors.items())
    return [_line("errors", f"answers that were errors: {shown}")]


def _supervision(state: Mapping[str, Any]) -> list[str]:
    restarts = _number(state.get("restarts"))
    if not restarts:
        return []
    ago = state.get("last_restart_seconds")
    when = f", the last {duration(ago)} ago" if isinstance(ago, int | float) else ""
    return [_line("restarts", f"the poller restarted {_plural(restarts, 'time', 'times')}{when}")]


def queue_text(state: Mapping[str, Any], now: datetime) -> str:
    """The `queue_status` data as a few labelled lines with units; pauses end at clock times in local time."""
    lines = [_line("jobs", _jobs(state)), *_budget(state), _providers(state), *_paused(state, now)]
    lines += _accounts(state, now) + _errors(state) + _supervision(state)
    latency = state.get("detection_latency")
    if isinstance(latency, int | float) and latency > 0:
        lines.append(_line("detection", f"finished jobs noticed about {latency:.1f} s after they finish (last minute)"))
    return "\n".join(lines)
