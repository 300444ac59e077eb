"""``veo simulator`` command line: arguments, errors, and a real process stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from veo_simulator import GEMINI_MODELS, GEMINI_RPM, VIDEO_SIZE
from veo_simulator.cli import build_parser, config_from_args, main

ROOT = Path(__file__).resolve().parents[3]


def test_arguments_become_settings() -> None:
    """Every flag lands in the simulator's settings."""
    args = build_parser().parse_args(
        [
            "--port", "0", "--rate", "5", "--lo", "1", "--hi", "2", "--fail", "0.1",
            "--faults", "500=0.05,slow=0.1", "--seed", "9", "--state", "s.json",
            "--require-captcha", "--contract", "media", "--timeout-s", "3", "--url-lag", "0.5",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert (config.port, config.rate, config.lo, config.hi, config.fail) == (0, 5.0, 1.0, 2.0, 0.1)
    assert dict(config.faults) == {"500": 0.05, "slow": 0.1}
    assert (config.seed, config.state_file, config.require_captcha) == (9, "s.json", True)
    assert (config.contract, config.timeout_s, config.url_lag_s) == ("media", 3.0, 0.5)


def test_account_flags_and_the_realistic_preset_become_settings() -> None:
    """Per-account limits land in the settings; --realistic renders in 60-180 s unless --lo/--hi say otherwise."""
    args = build_parser().parse_args(
        [
            "--realistic", "--account-active", "4", "--account-gap", "1.5",
            "--account-throttles-before-block", "3", "--account-window", "60", "--account-block", "900",
            "--account-quota", "30", "--account-quota-for", "ya29.a=10", "--account-quota-for", "cookie=b=2",
            "--account-credits", "400", "--model-quota", "veo_3_1_t2v_quality=3",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert (config.lo, config.hi) == (60.0, 180.0)
    limits = config.account_limits()
    assert (limits.max_active, limits.gap_s, limits.throttles_before_block) == (4, 1.5, 3)
    assert (limits.window_s, limits.block_s, limits.quota) == (60.0, 900.0, 30)
    assert dict(limits.quotas) == {"ya29.a": 10, "cookie=b": 2}
    assert dict(limits.model_quotas) == {"veo_3_1_t2v_quality": 3}
    assert config.credits == 400
    assert config_from_args(build_parser().parse_args(["--realistic", "--hi", "90"])).hi == 90.0
    plain = config_from_args(build_parser().parse_args([]))
    assert (plain.lo, plain.hi, plain.account_limits().max_active) == (20.0, 60.0, 0)


def test_gemini_flags_become_settings() -> None:
    """The Gemini API's keys, quota, models, outcome mix and file lifetime, and the video size, land in the settings;
    without them the documented defaults hold."""
    args = build_parser().parse_args(
        [
            "--gemini-key", "k1", "--gemini-key", "k2", "--gemini-rpm", "4",
            "--gemini-models", "veo-a, veo-b", "--gemini-fail", "0.1", "--gemini-filtered", "0.2",
            "--gemini-file-ttl", "60", "--video-size", "131072",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert (tuple(config.gemini_keys), config.gemini_rpm, tuple(config.gemini_models)) == (
        ("k1", "k2"),
        4,
        ("veo-a", "veo-b"),
    )
    assert (config.gemini_fail, config.gemini_filtered, config.gemini_file_ttl_s) == (0.1, 0.2, 60.0)
    assert config.video_size == 131072
    plain = config_from_args(build_parser().parse_args([]))
    assert (tuple(plain.gemini_keys), plain.gemini_rpm, plain.gemini_file_ttl_s) == ((), GEMINI_RPM, 172800.0)
    assert (tuple(plain.gemini_models), plain.video_size) == (GEMINI_MODELS, VIDEO_SIZE)
    assert "--gemini-key KEY" in build_parser().format_help()


@pytest.mark.parametrize(
    "argv",
    [
        ["--gemini-fail", "0.7", "--gemini-filtered", "0.4"],
        ["--gemini-key", ""],
        ["--video-size", "10"],
        ["--faults", "teapot=1"],
        ["--lo", "5", "--hi", "1"],
        ["--contract", "graphql"],
        ["--bogus"],
        ["--account-active", "-1"],
        ["--account-block", "0"],
        ["--account-quota-for", "ya29.a"],
        ["--account-quota-for", "ya29.a=many"],
        ["--account-credits", "-5"],
        ["--model-quota", "veo_3_1_t2v_fast"],
        ["--model-quota", "veo_3_1_t2v_fast=-1"],
    ],
)
def test_usage_errors_exit_with_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad flags or settings: exit code 2 and a message on stderr."""
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_process_prints_its_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The URL is the first line of stdout; SIGTERM stops it cleanly with exit code 0 and saves state."""
    state = tmp_path / "state.json"
    command = [sys.executable, "-m", "veo_simulator", "--port", "0", "--lo", "0", "--hi", "0"]
    process = subprocess.Popen(
        [*command, "--state", str(state)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url) as client:
            assert client.get("/_sim/health").json() == {"ok": True}
            assert client.post("/_sim/operations", json={"count": 1}).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert '"operations":[{' in state.read_text()
