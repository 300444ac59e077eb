"""Real processes for chaos runs: a `veo simulator` that outlives the relay, and a `veo serve` one can kill -9.

The simulator runs as its own process with a state file, so it survives every death of the relay;
`veo serve` is pointed at it with `--flow-url`/`--labs-url` (without `--profiles` it then uses its
built-in simulator profile against that URL). The relay is restarted on the same data directory and
port; it is known to be up once `server.json` names the new process id.
"""

from __future__ import annotations

import json
import logging
import random
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.server.relay_process import ROOT, VEO, client_env

__all__ = ["KillableRelay", "SimulatorProcess", "free_port", "simulator_process"]

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
EPHEMERAL_MARGIN = 8000
"""How far below the ephemeral range `free_port` looks."""


def free_port() -> int:
    """A loopback port nobody uses right now, below the ephemeral range when there is room.

    A port the kernel picks for `bind(0)` comes from the ephemeral range, the one outgoing connections take
    their source ports from: between this probe and the server binding it (later, and again after each kill),
    a connection of the relay or the test (to PostgreSQL, to the simulator) may take it, and the bind fails
    with "address already in use". Ports below the range are never given out that way.
    """
    low = _ephemeral_low()
    if low - EPHEMERAL_MARGIN >= 1024:
        rng = random.SystemRandom()
        for _ in range(200):
            port = rng.randrange(low - EPHEMERAL_MARGIN, low)
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as probe:  # no room below the range (or all taken): the kernel's pick
        probe.bind(("127.0.0.1", 0))
        chosen: int = probe.getsockname()[1]
        return chosen


def _ephemeral_low() -> int:
    """The lowest port of the kernel's ephemeral range (Linux; 1024 elsewhere: no room below, bind(0) is used)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 1024


class SimulatorProcess:
    """A running `veo simulator`: its URL and its admin endpoints."""

    def __init__(self, url: str, process: subprocess.Popen[str]) -> None:
        self.url = url
        self.process = process

    def audit(self) -> dict[str, Any]:
        """`GET /_sim/audit`."""
        response = httpx.get(self.url + "/_sim/audit", timeout=30.0)
        response.raise_for_status()
        audit: dict[str, Any] = response.json()
        return audit

    def set_faults(self, faults: Mapping[str, float]) -> None:
        """`POST /_sim/faults`."""
        httpx.post(self.url + "/_sim/faults", json=dict(faults), timeout=10.0).raise_for_status()


@contextmanager
def simulator_process(
    workdir: Path,
    *,
    lo: float,
    hi: float,
    seed: int,
    rate: float = 10.0,
    faults: str = "",
    timeout_s: float | None = None,
) -> Iterator[SimulatorProcess]:
    """`veo simulator --port 0 --state FILE ...` until the block ends (then SIGTERM, checked)."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [str(VEO), "simulator", "--port", "0", "--state", str(workdir / "simulator-state.json")]
    command += ["--lo", str(lo), "--hi", str(hi), "--seed", str(seed), "--rate", str(rate)]
    if faults:
        command += ["--faults", faults]
    if timeout_s is not None:
        command += ["--timeout-s", str(timeout_s)]
    log = (workdir / "simulator.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, env=client_env())
    try:
        url = _first_line(process, START_TIMEOUT)
        yield SimulatorProcess(url, process)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=START_TIMEOUT)
        assert code == 0, f"veo simulator exited with {code}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline().strip() if ready else ""
    if not line.startswith("http://"):
        raise AssertionError(f"veo simulator did not start (exit code {process.poll()}, said {line!r})")
    return line


class KillableRelay:
    """`veo serve` on a fixed port and data directory, killed with SIGKILL and started again at will."""

    def __init__(self, data: Path, port: int, args: Sequence[str] = ()) -> None:
        self.data = data
        self.port = port
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.starts = 0
        self.kills = 0
        self.start_seconds: list[float] = []
        """For each start, from the command to the server announcing itself in `server.json`."""

    @property
    def token(self) -> str:
        """The client token the relay keeps in its data directory."""
        return (self.data / "token").read_text().strip()

    @property
    def log_path(self) -> Path:
        """Every start's output, appended."""
        return self.data.parent / f"{self.data.name}-serve.log"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start `veo serve` and wait until it listens."""
        assert self.process is None or self.process.poll() is not None, "the relay is running"
        command = [str(VEO), "serve", "--data", str(self.data), "--port", str(self.port), *self.args]
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=client_env())
        self.process = process
        info = self.data / "server.json"
        while not _announced(info, process.pid):
            if process.poll() is not None or time.monotonic() - began > timeout:
                self._end()
                raise AssertionError(f"veo serve did not start:\n{self.log_path.read_text()[-4000:]}")
            time.sleep(0.02)
        self.start_seconds.append(time.monotonic() - began)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        if self._end():
            self.kills += 1

    def stop(self, timeout: float = START_TIMEOUT) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Make sure nothing is left running."""
        self._end()

    def _end(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        self.process.kill()
        self.process.wait()
        return True

    def rss_kib(self) -> int:
        """The relay process's resident set size (KiB, from /proc)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def _announced(info: Path, pid: int) -> bool:
    try:
        return int(json.loads(info.read_text())["pid"]) == pid
    except (OSError, ValueError, KeyError, TypeError):
        return False
