"""A real `veo serve` process on an ephemeral port, and a way to run client commands against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VEO = Path(sys.executable).parent / "veo"
ROOT = Path(__file__).resolve().parents[2]
FAST_JOBS = "0.3,0.8"


@dataclass(frozen=True)
class RelayProcess:
    """A running `veo serve`: its data directory, URL and token."""

    data: Path
    url: str
    token: str
    process: subprocess.Popen[bytes]


def client_env(**extra: str) -> dict[str, str]:
    """The environment without any VEO_* setting of the person running the tests, wide enough for tables."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("VEO_")}
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def _restore_sigint() -> None:
    """Let Ctrl-C (SIGINT) reach a child even when the test runner was started with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running_relay(data: Path, *, args: Sequence[str] = (), timeout: float = 30.0) -> Iterator[RelayProcess]:
    """Start `veo serve --port 0` with fast simulated jobs (and `args`); stop it with SIGTERM (its exit code is
    checked)."""
    log = (data / "serve.log").open("wb")
    command = [str(VEO), "serve", "--port", "0", "--data", str(data), "--simulator-times", FAST_JOBS, *args]
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=client_env())
    try:
        deadline = time.monotonic() + timeout
        info = data / "server.json"
        while not info.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"veo serve did not start:\n{(data / 'serve.log').read_text()}")
            time.sleep(0.05)
        url = json.loads(info.read_text())["url"]
        yield RelayProcess(data, url, (data / "token").read_text().strip(), process)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=timeout)
        assert code == 0, f"veo serve exited with {code}:\n{(data / 'serve.log').read_text()}"
        assert not info.exists(), "server.json outlived the server"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def veo(*args: str, data: Path | None, env: dict[str, str] | None = None, timeout: float = 30.0) -> Result:
    """Run a `veo` command to its end."""
    command = [str(VEO), *args, *(["--data", str(data)] if data is not None else [])]
    done = subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env or client_env()
    )
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Result:
    """A finished command: exit code and output."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Stdout as one JSON document."""
        return json.loads(self.out)

    def lines(self) -> list[str]:
        """Stdout's lines."""
        return self.out.splitlines()


def start_veo(args: Sequence[str], data: Path | None) -> subprocess.Popen[str]:
    """Start a long-running `veo` command (such as `watch`) with pipes; Ctrl-C works on it."""
    command = [str(VEO), *args, *(["--data", str(data)] if data is not None else [])]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=client_env(),
        preexec_fn=_restore_sigint,  # noqa: PLW1509 - only resets one signal disposition
    )


def watch_until_interrupted(data: Path, limit: int = 5) -> Result:
    """`veo watch` (its table): started, interrupted with Ctrl-C once it says it watches, run to its end."""
    watch = start_veo(["watch", "--limit", str(limit)], data)
    assert watch.stderr is not None
    try:
        first = watch.stderr.readline()
        assert first == "watching the relay's jobs (Ctrl-C to stop)\n"
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=10)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    return Result(watch.returncode, out, first + err)
