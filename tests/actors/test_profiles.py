"""The TOML profiles file: what loads, what is refused with a clear message, and the mode warning."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from actors.profiles import (
    DEFAULT_GEMINI_MODEL,
    DEFAULT_GEMINI_URL,
    DEFAULT_MAX_ACTIVE,
    DEFAULT_SUBMIT_GAP,
    Profile,
    ProfilesError,
    load_profiles,
    permission_warning,
)
from actors.quota_reset import DEFAULT_QUOTA_RESET, QuotaReset

TOKEN = "ya29.a0-profile-secret-token"
COOKIE = "profile-secret-cookie"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    """A profiles file with the given text and mode."""
    path = tmp_path / "profiles.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_profiles_load_with_defaults(tmp_path: Path) -> None:
    """Each [profiles.NAME] table becomes a Profile; tier and contract default."""
    path = write(
        tmp_path,
        f"""
[profiles.main]
bearer_token = "{TOKEN}"
project_id = "9fa0c772"

[profiles.ultra]
session_cookie = "{COOKIE}"
project_id = "p2"
tier = "PAYGATE_TIER_TWO"
status_contract = "media"
""",
    )
    profiles = load_profiles(path)
    assert set(profiles) == {"main", "ultra"}
    main = profiles["main"]
    assert (main.name, main.project_id, main.bearer_token, main.session_cookie) == ("main", "9fa0c772", TOKEN, None)
    assert main.tier == "PAYGATE_TIER_ONE"
    assert main.status_contract == "auto"
    ultra = profiles["ultra"]
    assert (ultra.session_cookie, ultra.tier, ultra.status_contract) == (COOKIE, "PAYGATE_TIER_TWO", "media")
    assert profiles.warnings == []


def test_account_limits_default_to_the_safe_side_and_can_be_set_per_profile(tmp_path: Path) -> None:
    """4 active and 2 s apart unless the profile says otherwise; every profile is in the pool unless it says not."""
    first = f'[profiles.main]\nbearer_token = "{TOKEN}"\nproject_id = "p1"\n'
    second = f'[profiles.spare]\nbearer_token = "{TOKEN}"\nproject_id = "p2"\n'
    second += "max_active = 2\nsubmit_gap = 5\npool = false\n"
    path = write(tmp_path, first + second)
    profiles = load_profiles(path)
    main, spare = profiles["main"], profiles["spare"]
    assert (main.max_active, main.submit_gap, main.pool) == (DEFAULT_MAX_ACTIVE, DEFAULT_SUBMIT_GAP, True)
    assert (DEFAULT_MAX_ACTIVE, DEFAULT_SUBMIT_GAP) == (4, 2.0)
    assert (spare.max_active, spare.submit_gap, spare.pool) == (2, 5.0, False)


def test_bearer_token_is_mutable_in_memory(tmp_path: Path) -> None:
    """A refreshed token replaces the old one on the profile object."""
    profile = Profile(name="a", project_id="p", session_cookie=COOKIE)
    profile.bearer_token = TOKEN
    assert profile.bearer_token == TOKEN
    assert profile.secrets() == (TOKEN, COOKIE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[profiles.a]\nproject_id = "p"\n', "profile 'a': needs 'bearer_token' or 'session_cookie'"),
        ('[profiles.a]\nbearer_token = "t"\n', "profile 'a': missing required key 'project_id'"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\ncolour = "red"\n', "profile 'a': unknown key 'colour'"),
        ('[profiles.a]\nproject_id = 5\nbearer_token = "t"\n',
         "profile 'a': key 'project_id' must be a string, not an integer"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = true\n', "key 'bearer_token' must be a string, not a boolean"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = ""\n', "profile 'a': key 'bearer_token' is empty"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\ntier = "GOLD"\n', "key 'tier' must be one of"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\nstatus_contract = "x"\n',
         "key 'status_contract' must be one of operations, media, auto"),
        ("[profiles]\n", "no profiles defined"),
        ("", "no profiles defined"),
        ('profiles = "x"\n', "no profiles defined"),
        ('[profiles]\na = "x"\n', "profiles.a must be a table"),
        ('[other]\nx = 1\n[profiles.a]\nproject_id = "p"\nbearer_token = "t"\n', "unknown top-level key 'other'"),
        ("[profiles.a\n", "not valid TOML"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\nmax_active = 0\n',
         "profile 'a': key 'max_active' must be at least 1 (it is 0)"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\nmax_active = 2.5\n',
         "profile 'a': key 'max_active' must be an integer, not a float"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\nsubmit_gap = -1\n',
         "profile 'a': key 'submit_gap' must be 0 or more seconds (it is -1)"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\nsubmit_gap = "2"\n',
         "profile 'a': key 'submit_gap' must be a number of seconds, not a str"),
        ('[profiles.a]\nproject_id = "p"\nbearer_token = "t"\npool = "yes"\n',
         "profile 'a': key 'pool' must be true or false"),
        ('[profiles.g]\nbackend = "gemini"\n', "profile 'g': missing required key 'api_key'"),
        ('[profiles.g]\nbackend = "vertex"\napi_key = "k"\n', "profile 'g': key 'backend' must be one of flow, gemini"),
        ('[profiles.g]\nbackend = "gemini"\napi_key = "k"\nproject_id = "p"\n',
         "profile 'g': key 'project_id' is for Flow profiles; this profile has backend = 'gemini'"),
        ('[profiles.g]\nbackend = "gemini"\napi_key = "k"\nbearer_token = "t"\n', "key 'bearer_token' is for Flow"),
        ('[profiles.f]\nproject_id = "p"\nbearer_token = "t"\napi_key = "k"\n',
         "profile 'f': key 'api_key' is for Gemini profiles; this profile has backend = 'flow'"),
        ('[profiles.f]\nproject_id = "p"\nbearer_token = "t"\nrpm = 5\n', "profile 'f': key 'rpm' is for Gemini"),
        ('[profiles.g]\nbackend = "gemini"\napi_key = "k"\nrpm = 0\n', "profile 'g': key 'rpm' must be at least 1"),
        ('[profiles.g]\nbackend = "gemini"\napi_key = "k"\nrpm = 1.5\n', "key 'rpm' must be an integer, not a float"),
        ('[profiles.g]\nbackend = "gemini"\napi_key = ""\n', "profile 'g': key 'api_key' is empty"),
        ('[profiles.g]\nbackend = "gemini"\napi_key = "k"\nbase_url = "ftp://x"\n', "key 'base_url' must be an http"),
        ('[profiles.g]\nbackend = "gemini"\napi_key = "k"\nmodel = "a/b"\n', "key 'model' must be a model id"),
    ],
)  # fmt: skip
def test_mistakes_are_refused_naming_file_profile_and_key(tmp_path: Path, text: str, expected: str) -> None:
    """Every mistake raises ProfilesError naming the file and, where there is one, the profile and key."""
    path = write(tmp_path, text)
    with pytest.raises(ProfilesError) as caught:
        load_profiles(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    """A refused profile's message names keys, never the values of secrets."""
    path = write(tmp_path, f'[profiles.a]\nbearer_token = "{TOKEN}"\nsession_cookie = "{COOKIE}"\nextra = 1\n')
    with pytest.raises(ProfilesError) as caught:
        load_profiles(path)
    assert TOKEN not in str(caught.value)
    assert COOKIE not in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A file that does not exist is named in the error."""
    with pytest.raises(ProfilesError, match="cannot read the profiles file"):
        load_profiles(tmp_path / "nope.toml")


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are refused with a message, not a crash."""
    path = tmp_path / "profiles.toml"
    path.write_bytes(b"\xff\xfe[profiles]")
    with pytest.raises(ProfilesError, match="not UTF-8"):
        load_profiles(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_files_open_to_others_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int) -> None:
    """Group- or world-accessible files load, with a logged and returned warning without secrets."""
    path = write(tmp_path, f'[profiles.a]\nproject_id = "p"\nbearer_token = "{TOKEN}"\n', mode)
    with caplog.at_level(logging.WARNING, logger="actors.profiles"):
        profiles = load_profiles(path)
    assert "a" in profiles
    assert len(profiles.warnings) == 1
    assert f"chmod 600 {path}" in profiles.warnings[0]
    assert profiles.warnings[0] in caplog.text
    assert permission_warning(path) == profiles.warnings[0]
    assert TOKEN not in caplog.text


def test_private_files_load_without_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Mode 0600 gives no warning."""
    path = write(tmp_path, f'[profiles.a]\nproject_id = "p"\nbearer_token = "{TOKEN}"\n', 0o600)
    with caplog.at_level(logging.WARNING):
        profiles = load_profiles(path)
    assert profiles.warnings == []
    assert permission_warning(path) is None
    assert caplog.records == []


def test_profile_repr_hides_secrets() -> None:
    """repr and str show name and settings but no token or cookie."""
    profile = Profile(name="main", project_id="p", bearer_token=TOKEN, session_cookie=COOKIE)
    for text in (repr(profile), str(profile)):
        assert TOKEN not in text
        assert COOKIE not in text
        assert "name='main'" in text
    assert "bearer_token=None" in repr(Profile(name="c", project_id="p", session_cookie=COOKIE))


def test_on_quota_chooses_between_waiting_and_failing(tmp_path: Path) -> None:
    """`on_quota` is wait by default, may be fail, and anything else is refused naming the key."""
    path = tmp_path / "profiles.toml"
    path.write_text(
        '[profiles.a]\nbearer_token = "t"\nproject_id = "p"\n[profiles.b]\nbearer_token = "t"\n'
        'project_id = "p"\non_quota = "fail"\n'
    )
    path.chmod(0o600)
    loaded = load_profiles(path)
    assert (loaded["a"].on_quota, loaded["b"].on_quota) == ("wait", "fail")
    path.write_text('[profiles.a]\nbearer_token = "t"\nproject_id = "p"\non_quota = "later"\n')
    with pytest.raises(ProfilesError, match="on_quota"):
        load_profiles(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, DEFAULT_QUOTA_RESET),
        ("6", QuotaReset(hours=6.0)),
        ("1.5", QuotaReset(hours=1.5)),
        ('"08:00"', QuotaReset(minute_of_day=8 * 60)),
        ('"23:59"', QuotaReset(minute_of_day=23 * 60 + 59)),
    ],
)
def test_quota_reset_is_hours_or_a_utc_time_of_day(tmp_path: Path, value: str | None, expected: QuotaReset) -> None:
    """`quota_reset` defaults to a day after the refusal; hours or "HH:MM" (UTC) may say otherwise."""
    path = tmp_path / "profiles.toml"
    path.write_text(
        '[profiles.a]\nbearer_token = "t"\nproject_id = "p"\n' + (f"quota_reset = {value}\n" if value else "")
    )
    path.chmod(0o600)
    assert load_profiles(path)["a"].quota_reset == expected


@pytest.mark.parametrize("value", ["0", "-1", "1000", '"8am"', '"24:00"', '""', "true", "[1]"])
def test_a_bad_quota_reset_is_refused_naming_the_file_profile_and_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text(f'[profiles.a]\nbearer_token = "t"\nproject_id = "p"\nquota_reset = {value}\n')
    path.chmod(0o600)
    with pytest.raises(ProfilesError, match=rf"{path}: profile 'a': key 'quota_reset' must be"):
        load_profiles(path)


GEMINI_KEY = "AIzaSyA-profile-secret-key-0123456789"


def test_gemini_profiles_load_with_their_defaults(tmp_path: Path) -> None:
    """backend = "gemini" needs only api_key; it stays out of the pool unless it says so; flow is the default."""
    path = write(
        tmp_path,
        f'[profiles.key]\nbackend = "gemini"\napi_key = "{GEMINI_KEY}"\n'
        f'[profiles.paced]\nbackend = "gemini"\napi_key = "{GEMINI_KEY}"\nbase_url = "http://127.0.0.1:9/"\n'
        'model = "veo-3.0-fast-generate-001"\nrpm = 10\npool = true\nmax_active = 3\non_quota = "fail"\n'
        f'[profiles.flow]\nbearer_token = "{TOKEN}"\nproject_id = "p"\n',
    )
    profiles = load_profiles(path)
    key, paced, flow = profiles["key"], profiles["paced"], profiles["flow"]
    assert (key.backend, key.api_key, key.base_url, key.model) == (
        "gemini", GEMINI_KEY, DEFAULT_GEMINI_URL, DEFAULT_GEMINI_MODEL
    )  # fmt: skip
    assert (key.rpm, key.pool, key.max_active, key.submit_gap, key.recaptcha) == (None, False, None, 0.0, "off")
    assert (paced.base_url, paced.model, paced.rpm, paced.pool, paced.max_active, paced.on_quota) == (
        "http://127.0.0.1:9", "veo-3.0-fast-generate-001", 10, True, 3, "fail"
    )  # fmt: skip
    assert (flow.backend, flow.pool, flow.is_gemini, key.is_gemini) == ("flow", True, False, True)
    assert GEMINI_KEY in key.secrets()
    assert GEMINI_KEY not in repr(key) and "[redacted]" in repr(key)


def test_a_refused_gemini_profile_never_shows_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, f'[profiles.g]\nbackend = "gemini"\napi_key = "{GEMINI_KEY}"\ntier = "x"\n')
    with pytest.raises(ProfilesError) as caught:
        load_profiles(path)
    assert GEMINI_KEY not in str(caught.value)
