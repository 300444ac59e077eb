"""Flow account profiles: credentials and settings read from a TOML file."""

from __future__ import annotations

import logging
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from actors.quota_reset import DEFAULT_QUOTA_RESET, QuotaReset, parse_quota_reset

__all__ = [
    "CONTRACTS",
    "DEFAULT_MAX_ACTIVE",
    "DEFAULT_SUBMIT_GAP",
    "TIERS",
    "ConfiguredContract",
    "Credentials",
    "LoadedProfiles",
    "Profile",
    "ProfilesError",
    "load_profiles",
    "permission_warning",
]

logger = logging.getLogger(__name__)

ConfiguredContract = Literal["operations", "media", "auto"]
CONTRACTS: tuple[str, ...] = get_args(ConfiguredContract)
TIERS = ("PAYGATE_TIER_NOT_PAID", "PAYGATE_TIER_ONE", "PAYGATE_TIER_TWO")
_TEXT_KEYS = ("bearer_token", "session_cookie", "project_id", "tier", "status_contract", "on_quota", "recaptcha")
_KEYS = (*_TEXT_KEYS, "pool", "max_active", "submit_gap", "quota_reset")
DEFAULT_MAX_ACTIVE = 4
"""A profiles file's account keeps at most this many generations active: Flow is reported to throttle past
about 5 (flow-api.md §5), and one below leaves room for an upscale or a user working in Flow's own page."""
DEFAULT_SUBMIT_GAP = 2.0
"""Seconds between two submissions of a profiles file's account: the safe envelope reported is at least about
a second (flow-api.md §5); twice that keeps a long batch clear of the burst pattern that escalates to a block."""
ON_QUOTA = ("wait", "fail")
RECAPTCHA = ("required", "off")


@dataclass(eq=False, repr=False)
class Profile:
    """One Flow account; ``bearer_token`` and ``session_cookie`` are refreshed in memory."""

    name: str
    project_id: str
    bearer_token: str | None = None
    session_cookie: str | None = None
    tier: str = "PAYGATE_TIER_ONE"
    status_contract: ConfiguredContract = "auto"
    on_quota: str = "wait"
    """When Flow says the quota is used up (or its credits cannot pay for a job's model): jobs pinned to it
    `wait` for its `quota_reset` (or for credits) or `fail` with `quota_exhausted`; pool jobs go to other
    accounts either way."""
    recaptcha: str = "off"
    """`required`: every submission carries a single-use reCAPTCHA token (the real Flow needs it, and a
    profiles file defaults to it); `off`: none (simulators, tests)."""
    pool: bool = True
    """Whether requests without a `profile_id` may run on this account."""
    max_active: int | None = None
    """At most this many of its generations submitted and not finished (None: no limit of its own; a profiles
    file defaults to `DEFAULT_MAX_ACTIVE`)."""
    submit_gap: float = 0.0
    """Seconds between two of its submissions (a profiles file defaults to `DEFAULT_SUBMIT_GAP`)."""
    quota_reset: QuotaReset = DEFAULT_QUOTA_RESET
    """When its used-up quota comes back (hours after Flow's refusal, or a UTC time of day)."""

    def __repr__(self) -> str:
        return (
            f"Profile(name={self.name!r}, project_id={self.project_id!r}, tier={self.tier!r}, "
            f"status_contract={self.status_contract!r}, "
            f"bearer_token={'[redacted]' if self.bearer_token else None}, "
            f"session_cookie={'[redacted]' if self.session_cookie else None})"
        )

    def secrets(self) -> tuple[str, ...]:
        """The secret values this profile holds, for redaction."""
        return tuple(s for s in (self.bearer_token, self.session_cookie) if s)


Credentials = Profile


class ProfilesError(ValueError):
    """The profiles file cannot be used; the message names the file, profile and key."""


class LoadedProfiles(dict[str, Profile]):
    """Profiles by name, plus the warnings raised while loading them."""

    def __init__(self, profiles: dict[str, Profile], warnings: list[str]) -> None:
        super().__init__(profiles)
        self.warnings = warnings


def permission_warning(path: str | os.PathLike[str]) -> str | None:
    """A warning when the file is accessible to group or others, else None."""
    mode = Path(path).stat().st_mode
    if mode & 0o077:
        return (
            f"{os.fspath(path)} holds secrets but is accessible to other users (mode {mode & 0o777:o}); "
            f"run: chmod 600 {os.fspath(path)}"
        )
    return None


def load_profiles(path: str | os.PathLike[str]) -> LoadedProfiles:
    """Read ``[profiles.NAME]`` tables from a TOML file; raise ProfilesError on any mistake."""
    where = os.fspath(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ProfilesError(f"{where}: cannot read the profiles file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProfilesError(f"{where}: the profiles file is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfilesError(f"{where}: not valid TOML ({exc})") from None

    unknown = sorted(set(data) - {"profiles"})
    if unknown:
        raise ProfilesError(f"{where}: unknown top-level key {unknown[0]!r} (expected [profiles.NAME] tables)")
    tables = data.get("profiles")
    if not isinstance(tables, dict) or not tables:
        raise ProfilesError(f"{where}: no profiles defined (expected at least one [profiles.NAME] table)")

    profiles = {name: _profile(where, name, table) for name, table in tables.items()}
    warnings = []
    warning = permission_warning(path)
    if warning is not None:
        logger.warning("%s", warning)
        warnings.append(warning)
    return LoadedProfiles(profiles, warnings)


def _profile(where: str, name: str, table: object) -> Profile:
    if not isinstance(table, dict):
        raise ProfilesError(f"{where}: profiles.{name} must be a table ([profiles.{name}])")
    for key, value in table.items():
        if key not in _KEYS:
            raise ProfilesError(f"{where}: profile {name!r}: unknown key {key!r} (allowed: {', '.join(_KEYS)})")
        if key not in _TEXT_KEYS:
            continue
        if not isinstance(value, str):
            raise ProfilesError(f"{where}: profile {name!r}: key {key!r} must be a string, not {_toml_type(value)}")
        if not value.strip():
            raise ProfilesError(f"{where}: profile {name!r}: key {key!r} is empty")

    if "project_id" not in table:
        raise ProfilesError(f"{where}: profile {name!r}: missing required key 'project_id'")
    if "bearer_token" not in table and "session_cookie" not in table:
        raise ProfilesError(f"{where}: profile {name!r}: needs 'bearer_token' or 'session_cookie' (neither is set)")
    tier = table.get("tier", "PAYGATE_TIER_ONE")
    if tier not in TIERS:
        raise ProfilesError(f"{where}: profile {name!r}: key 'tier' must be one of {', '.join(TIERS)}")
    contract = table.get("status_contract", "auto")
    if contract not in CONTRACTS:
        raise ProfilesError(f"{where}: profile {name!r}: key 'status_contract' must be one of {', '.join(CONTRACTS)}")
    on_quota = table.get("on_quota", "wait")
    if on_quota not in ON_QUOTA:
        raise ProfilesError(f"{where}: profile {name!r}: key 'on_quota' must be one of {', '.join(ON_QUOTA)}")
    recaptcha = table.get("recaptcha", "required")
    if recaptcha not in RECAPTCHA:
        raise ProfilesError(f"{where}: profile {name!r}: key 'recaptcha' must be one of {', '.join(RECAPTCHA)}")
    return Profile(
        name=name,
        pool=_pool(where, name, table),
        max_active=_max_active(where, name, table),
        submit_gap=_submit_gap(where, name, table),
        quota_reset=_quota_reset(where, name, table),
        on_quota=on_quota,
        recaptcha=recaptcha,
        project_id=table["project_id"],
        bearer_token=table.get("bearer_token"),
        session_cookie=table.get("session_cookie"),
        tier=tier,
        status_contract=contract,
    )


def _pool(where: str, name: str, table: dict[str, object]) -> bool:
    value = table.get("pool", True)
    if not isinstance(value, bool):
        raise ProfilesError(f"{where}: profile {name!r}: key 'pool' must be true or false, not {_toml_type(value)}")
    return value


def _max_active(where: str, name: str, table: dict[str, object]) -> int:
    value = table.get("max_active", DEFAULT_MAX_ACTIVE)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProfilesError(f"{where}: profile {name!r}: key 'max_active' must be an integer, not {_toml_type(value)}")
    if value < 1:
        raise ProfilesError(f"{where}: profile {name!r}: key 'max_active' must be at least 1 (it is {value})")
    return value


def _submit_gap(where: str, name: str, table: dict[str, object]) -> float:
    value = table.get("submit_gap", DEFAULT_SUBMIT_GAP)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfilesError(
            f"{where}: profile {name!r}: key 'submit_gap' must be a number of seconds, not {_toml_type(value)}"
        )
    if not 0 <= value < math.inf:
        raise ProfilesError(f"{where}: profile {name!r}: key 'submit_gap' must be 0 or more seconds (it is {value})")
    return float(value)


def _quota_reset(where: str, name: str, table: dict[str, object]) -> QuotaReset:
    if "quota_reset" not in table:
        return DEFAULT_QUOTA_RESET
    try:
        return parse_quota_reset(table["quota_reset"])
    except ValueError as exc:
        raise ProfilesError(f"{where}: profile {name!r}: key 'quota_reset' {exc}") from None


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", list: "an array", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")
