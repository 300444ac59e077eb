"""Account profiles: credentials and settings of Flow accounts and Gemini API keys, read from a TOML file."""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, cast, get_args

from actors.quota_reset import DEFAULT_QUOTA_RESET, QuotaReset, parse_quota_reset

__all__ = [
    "BACKENDS",
    "CONTRACTS",
    "DEFAULT_GEMINI_MODEL",
    "DEFAULT_GEMINI_URL",
    "DEFAULT_MAX_ACTIVE",
    "DEFAULT_SUBMIT_GAP",
    "GEMINI",
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
Backend = Literal["flow", "gemini"]
BACKENDS: tuple[str, ...] = get_args(Backend)
GEMINI: Final = "gemini"
"""The backend (and the calls' `backend`) of Gemini API profiles."""
_COMMON_KEYS = ("backend", "on_quota", "pool", "max_active", "submit_gap", "quota_reset")
_FLOW_KEYS = ("bearer_token", "session_cookie", "project_id", "tier", "status_contract", "recaptcha")
_GEMINI_KEYS = ("api_key", "base_url", "model", "rpm")
_TEXT_KEYS = (*_FLOW_KEYS, "on_quota", "backend", "api_key", "base_url", "model")
_KEYS = (*_FLOW_KEYS, *_COMMON_KEYS)
DEFAULT_GEMINI_URL = "https://generativelanguage.googleapis.com"
DEFAULT_GEMINI_MODEL = "veo-3.1-fast-generate-preview"
"""Veo 3.1 fast on the Gemini API (flow-api.md §6): the cheaper, quicker of the current Veo 3 models."""
DEFAULT_MAX_ACTIVE = 4
"""A profiles file's account keeps at most this many generations active: Flow is reported to throttle past
about 5 (flow-api.md §5), and one below leaves room for an upscale or a user working in Flow's own page."""
DEFAULT_SUBMIT_GAP = 2.0
"""Seconds between two submissions of a profiles file's account: the safe envelope reported is at least about
a second (flow-api.md §5); twice that keeps a long batch clear of the burst pattern that escalates to a block."""
ON_QUOTA = ("wait", "fail")
_GEMINI_MODEL = re.compile(r"[a-z0-9][a-z0-9.\-]{0,99}")
RECAPTCHA = ("required", "off")


@dataclass(eq=False, repr=False)
class Profile:
    """One account: a Flow account (``bearer_token`` and ``session_cookie`` are refreshed in memory) or a
    Gemini API key (``backend`` "gemini")."""

    name: str
    project_id: str = ""
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
    backend: Backend = "flow"
    """`flow` (Google Flow, the keys above) or `gemini` (the Gemini API, the keys below)."""
    api_key: str | None = None
    """The Gemini API key (secret: sent only in the `x-goog-api-key` header)."""
    base_url: str = DEFAULT_GEMINI_URL
    model: str = DEFAULT_GEMINI_MODEL
    """The Gemini API model every generation of this profile uses."""
    rpm: int | None = None
    """`predictLongRunning` calls the key may make per minute (None: learned from the API's 429 answers)."""

    def __repr__(self) -> str:
        if self.backend == "gemini":
            return (
                f"Profile(name={self.name!r}, backend='gemini', base_url={self.base_url!r}, model={self.model!r}, "
                f"rpm={self.rpm!r}, api_key={'[redacted]' if self.api_key else None})"
            )
        return (
            f"Profile(name={self.name!r}, project_id={self.project_id!r}, tier={self.tier!r}, "
            f"status_contract={self.status_contract!r}, "
            f"bearer_token={'[redacted]' if self.bearer_token else None}, "
            f"session_cookie={'[redacted]' if self.session_cookie else None})"
        )

    @property
    def is_gemini(self) -> bool:
        """Whether this profile is a Gemini API key."""
        return self.backend == GEMINI

    def secrets(self) -> tuple[str, ...]:
        """The secret values this profile holds, for redaction."""
        return tuple(s for s in (self.bearer_token, self.session_cookie, self.api_key) if s)


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
    backend = table.get("backend", "flow")
    if backend not in BACKENDS:
        raise ProfilesError(f"{where}: profile {name!r}: key 'backend' must be one of {', '.join(BACKENDS)}")
    allowed = (*_GEMINI_KEYS, *_COMMON_KEYS) if backend == "gemini" else _KEYS
    for key, value in table.items():
        if key not in allowed:
            if key in _GEMINI_KEYS or key in _FLOW_KEYS:
                other = "Flow" if backend == "gemini" else "Gemini"
                raise ProfilesError(
                    f"{where}: profile {name!r}: key {key!r} is for {other} profiles; this profile has "
                    f"backend = {backend!r}"
                )
            raise ProfilesError(f"{where}: profile {name!r}: unknown key {key!r} (allowed: {', '.join(allowed)})")
        if key not in _TEXT_KEYS:
            continue
        if not isinstance(value, str):
            raise ProfilesError(f"{where}: profile {name!r}: key {key!r} must be a string, not {_toml_type(value)}")
        if not value.strip():
            raise ProfilesError(f"{where}: profile {name!r}: key {key!r} is empty")
    if backend == "gemini":
        return _gemini_profile(where, name, table)

    if "project_id" not in table:
        raise ProfilesError(f"{where}: profile {name!r}: missing required key 'project_id'")
    if "bearer_token" not in table and "session_cookie" not in table:
        raise ProfilesError(f"{where}: profile {name!r}: needs 'bearer_token' or 'session_cookie' (neither is set)")
    tier = _choice(where, name, table, "tier", TIERS, "PAYGATE_TIER_ONE")
    contract = cast("ConfiguredContract", _choice(where, name, table, "status_contract", CONTRACTS, "auto"))
    on_quota = _choice(where, name, table, "on_quota", ON_QUOTA, "wait")
    recaptcha = _choice(where, name, table, "recaptcha", RECAPTCHA, "required")
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


def _gemini_profile(where: str, name: str, table: dict[str, object]) -> Profile:
    """A Gemini API key: out of the pool unless it says so (nobody is billed by surprise), no active limit or gap
    of its own unless set (its per-minute quota paces it)."""
    api_key = table.get("api_key")
    if not isinstance(api_key, str):
        raise ProfilesError(f"{where}: profile {name!r}: missing required key 'api_key' (backend = 'gemini')")
    base_url = str(table.get("base_url", DEFAULT_GEMINI_URL)).rstrip("/")
    if not base_url.startswith(("https://", "http://")):
        raise ProfilesError(f"{where}: profile {name!r}: key 'base_url' must be an http(s) URL")
    model = str(table.get("model", DEFAULT_GEMINI_MODEL))
    if not _GEMINI_MODEL.fullmatch(model):
        raise ProfilesError(f"{where}: profile {name!r}: key 'model' must be a model id such as {DEFAULT_GEMINI_MODEL}")
    on_quota = _choice(where, name, table, "on_quota", ON_QUOTA, "wait")
    return Profile(
        name=name,
        backend="gemini",
        api_key=api_key,
        base_url=base_url,
        model=model,
        rpm=_whole(where, name, table, "rpm", None),
        pool=_pool(where, name, table, default=False),
        max_active=_whole(where, name, table, "max_active", None),
        submit_gap=_submit_gap(where, name, table, default=0.0),
        quota_reset=_quota_reset(where, name, table),
        on_quota=on_quota,
        recaptcha="off",
    )


def _choice(where: str, name: str, table: dict[str, object], key: str, choices: tuple[str, ...], default: str) -> str:
    """A key whose value is one of `choices`."""
    value = table.get(key, default)
    if value not in choices:
        raise ProfilesError(f"{where}: profile {name!r}: key {key!r} must be one of {', '.join(choices)}")
    return str(value)


def _pool(where: str, name: str, table: dict[str, object], *, default: bool = True) -> bool:
    value = table.get("pool", default)
    if not isinstance(value, bool):
        raise ProfilesError(f"{where}: profile {name!r}: key 'pool' must be true or false, not {_toml_type(value)}")
    return value


def _max_active(where: str, name: str, table: dict[str, object]) -> int:
    value = _whole(where, name, table, "max_active", DEFAULT_MAX_ACTIVE)
    assert value is not None
    return value


def _whole(where: str, name: str, table: dict[str, object], key: str, default: int | None) -> int | None:
    """An optional whole number of at least 1."""
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProfilesError(f"{where}: profile {name!r}: key {key!r} must be an integer, not {_toml_type(value)}")
    if value < 1:
        raise ProfilesError(f"{where}: profile {name!r}: key {key!r} must be at least 1 (it is {value})")
    return value


def _submit_gap(where: str, name: str, table: dict[str, object], *, default: float = DEFAULT_SUBMIT_GAP) -> float:
    value = table.get("submit_gap", default)
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
