"""The README's first session, followed word for word: its commands are read from the README itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.server.relay_process import ROOT, client_env

SECTION = re.compile(r"### A first session\n(?P<body>.*?)\n(?=#)", re.S)
BLOCK = re.compile(r"```sh\n(?P<code>.*?)```", re.S)
DASHBOARD = re.compile(r"dashboard: (?P<url>http://\S+/#token=\S+)")


def first_session_blocks() -> list[list[str]]:
    """The shell blocks of the README's first session, each a list of its commands."""
    section = SECTION.search((ROOT / "README.md").read_text())
    assert section is not None, "the README has no '### A first session'"
    blocks = [m["code"] for m in BLOCK.finditer(section["body"])]
    return [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks]


def test_the_readme_first_session_works_as_written(tmp_path: Path) -> None:
    """Step 1 starts the relay, step 2 submits and waits until the video is done, step 3's address serves the
    dashboard. Only the environment differs from a user's: a throwaway data directory, a free port, fast videos."""
    if not (ROOT / ".venv" / "bin" / "veo").exists():
        pytest.skip("the README's commands use the project's .venv (made by `make test` / `make run`)")
    start, submit = first_session_blocks()
    assert start == ["make run"]
    env = client_env(XDG_DATA_HOME=str(tmp_path), VEO_PORT="0", VEO_SIMULATOR_TIMES="0.2,0.5")
    env.pop("MAKEFLAGS", None)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        relay = subprocess.Popen(
            ["bash", "-c", " && ".join(start)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        dashboard = None
        deadline = time.monotonic() + 120
        while dashboard is None:
            found = DASHBOARD.search(log_path.read_text())
            dashboard = found["url"] if found else None
            assert relay.poll() is None, f"`make run` ended:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"no dashboard address after 120 s:\n{log_path.read_text()}"
            time.sleep(0.1)
        assert str(tmp_path / "veo-relay") in log_path.read_text()  # it says where its data directory is

        done = subprocess.run(
            ["bash", "-c", " && ".join(submit)],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[-1].split()[1] == "done"  # the plain word the CLI says for completed

        with urllib.request.urlopen(dashboard, timeout=30) as page:
            assert page.status == 200
            assert "<html" in page.read().decode().lower()
    finally:
        os.killpg(relay.pid, signal.SIGTERM)
        try:
            code = relay.wait(timeout=60)
        finally:
            if relay.poll() is None:
                os.killpg(relay.pid, signal.SIGKILL)
                relay.wait()
    assert code in (0, 2, -signal.SIGTERM), log_path.read_text()  # make reports its child's signal as 2
