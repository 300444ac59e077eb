"""`veo queue` for people: the relay's jobs, request budget, token providers, paused profiles and accounts, with
units, instead of a dump of `queue_status` (which `--json` prints as it is)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from veo_client.words import duration

__all__ = ["queue_text"]

logger = logging.getLogger(__name__)

_JOBS = (
    ("queued", "queued"),
    ("waiting_token", "waiting for a token"),
    ("submitting", "submitting"),
    ("pending", "pending at Flow"),
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
        _line("in flight", f"{flying:g} of {most:g} calls to Flow at once" if most else f"{flying:g} calls to Flow"),
    ]
    throttled = _number(state.get("throttled"))
    if throttled:
        lines.append(_line("throttled", f"Flow answered 429 (too many requests) {_plural(throttled, 'time', 'times')}"))
    return lines


def _providers(state: Mapping[str, Any]) -> str:
    count = _number(state.get("providers"))
    if not count:
        return _line("tokens", "no token provider connected (the browser extension supplies reCAPTCHA tokens)")
    return _line("tokens", f"{_plural(count, 'token provider', 'token providers')} connected")


def _paused(state: Mapping[str, Any], now: datetime) -> list[str]:
    paused = [p for p in state.get("paused_profiles") or [] if isinstance(p, Mapping)]
    if not paused:
        return [_line("paused", "no profile is paused")]
    lines = [_line("paused", f"{_plural(len(paused), 'profile', 'profiles')}:")]
    for pause in paused:
        left = _number(pause.get("seconds_left"))
        until = (now + timedelta(seconds=left)).astimezone().strftime("%H:%M:%S")
        why = pause.get("reason") or "no reason given"
        lines.append(f"{'':<{_LABEL}}  {pause.get('profile_id')}: {why}; until {until} (in {duration(left)})")
    return lines


def _accounts(state: Mapping[str, Any]) -> list[str]:
    accounts = [a for a in state.get("accounts") or [] if isinstance(a, Mapping)]
    if not accounts:
        return []
    lines = [_line("accounts", f"{len(accounts)}:")]
    for account in accounts:
        name = account.get("profile_id") or account.get("name") or "?"
        details = ", ".join(
            f"{key.replace('_', ' ')} {value}"
            for key, value in account.items()
            if key not in ("profile_id", "name") and value is not None and not isinstance(value, Mapping | list)
        )
        lines.append(f"{'':<{_LABEL}}  {name}: {details}" if details else f"{'':<{_LABEL}}  {name}")
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
    return [_line("restarts", f"the Flow poller restarted {_plural(restarts, 'time', 'times')}{when}")]


def queue_text(state: Mapping[str, Any], now: datetime) -> str:
    """The `queue_status` data as a few labelled lines with units; pauses end at clock times in local time."""
    lines = [_line("jobs", _jobs(state)), *_budget(state), _providers(state), *_paused(state, now)]
    lines += _accounts(state) + _errors(state) + _supervision(state)
    latency = state.get("detection_latency")
    if isinstance(latency, int | float) and latency > 0:
        lines.append(_line("detection", f"finished jobs noticed about {latency:.1f} s after they finish (last minute)"))
    return "\n".join(lines)
