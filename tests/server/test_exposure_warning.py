"""`veo serve --host` on an address other machines can reach says what that exposes and that TLS belongs in front."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.bootstrap import Settings
from server.service import exposure_warning, run_service
from tests.e2e.harness import FAST_JOBS, run


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_a_loopback_host_is_not_warned_about(host: str) -> None:
    assert exposure_warning(host) is None


def test_a_non_loopback_host_is_warned_about_with_what_it_exposes(tmp_path: Path) -> None:
    """`veo serve --host 0.0.0.0` says what others can reach and that TLS must be put in front."""
    said: list[str] = []
    stop = asyncio.Event()

    def say(line: str) -> None:
        said.append(line)
        if line.startswith("dashboard:"):
            stop.set()

    settings = Settings(data_dir=tmp_path / "veo-relay", host="0.0.0.0", port=0, simulator=FAST_JOBS)
    assert run(run_service(settings, say, stop)) == 0
    (warning,) = [line for line in said if "not a loopback address" in line]
    assert warning.startswith("warning: --host 0.0.0.0 is not a loopback address")
    for exposed in ("/ws", "/metrics", "token", "put TLS in front"):
        assert exposed in warning
    assert exposure_warning("192.168.1.5") is not None
