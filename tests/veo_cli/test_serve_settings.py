"""`veo serve` turns its flags and environment variables into the poller's settings (CONTRACT §5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors.poller_settings import PollerSettings
from server.bootstrap import Settings
from veo_cli import serve as serve_module


def settings_of(monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str]) -> Settings:
    """Run `veo serve` with the service replaced by one that only keeps its settings."""
    seen: list[Settings] = []

    async def keep(settings: Settings, echo: Callable[..., Any]) -> int:
        seen.append(settings)
        return 0

    monkeypatch.setattr(serve_module, "run_service", keep)
    result = CliRunner().invoke(serve_module.serve, args, env=env)
    assert result.exit_code == 0, result.output
    (settings,) = seen
    return settings


def poller_settings_of(monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str]) -> PollerSettings:
    """The poller's settings `veo serve` would run with."""
    return settings_of(monkeypatch, args, env).poller_settings()


def test_client_sessions_is_off_unless_the_flag_or_the_environment_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only the provider token may provide sessions, unless `--client-sessions` or `VEO_CLIENT_SESSIONS=1`."""
    data = ["--data", str(tmp_path)]
    assert settings_of(monkeypatch, data, {}).client_sessions is False
    assert settings_of(monkeypatch, [*data, "--client-sessions"], {}).client_sessions is True
    assert settings_of(monkeypatch, data, {"VEO_CLIENT_SESSIONS": "1"}).client_sessions is True


def test_lost_after_defaults_to_ten_minutes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert poller_settings_of(monkeypatch, ["--data", str(tmp_path)], {}).lost_after_s == 600.0


def test_lost_after_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--lost-after S` or `VEO_LOST_AFTER`; the flag wins."""
    data = ["--data", str(tmp_path)]
    assert poller_settings_of(monkeypatch, data, {"VEO_LOST_AFTER": "30"}).lost_after_s == 30.0
    assert poller_settings_of(monkeypatch, [*data, "--lost-after", "5"], {"VEO_LOST_AFTER": "30"}).lost_after_s == 5.0


def test_lost_after_must_be_positive(tmp_path: Path) -> None:
    result = CliRunner().invoke(serve_module.serve, ["--data", str(tmp_path), "--lost-after", "0"])
    assert result.exit_code == 2
