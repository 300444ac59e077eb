"""A `veo serve` process started from a checkout (this tree or an older one), for the benches that compare them.

The entry point moved with the layout change (`server.cli:main` before it, `veo_cli.main:main` after), so
the command is `python -c "from X import main; main()"` with X chosen by which module the checkout has,
run with the checkout as its working directory and only entry on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["HERE", "RelayProcess", "SimulatorProcess", "entry_module", "tree_env", "veo_command"]

HERE = Path(__file__).resolve().parent.parent
"""The checkout this bench belongs to."""
ENTRY_MODULES = ("veo_cli.main", "server.cli")
START_TIMEOUT = 60.0


def entry_module(tree: Path) -> str:
    """The module holding `veo`'s `main` in `tree`."""
    for module in ENTRY_MODULES:
        if (tree / (module.replace(".", "/") + ".py")).exists():
            return module
    raise SystemExit(f"{tree}: neither of {', '.join(ENTRY_MODULES)} exists; not a veo-relay checkout")


def veo_command(tree: Path) -> list[str]:
    """The command line that runs `veo` from `tree` (arguments follow it)."""
    return [sys.executable, "-c", f"from {entry_module(tree)} import main; main()"]


def tree_env(tree: Path) -> dict[str, str]:
    """The environment for a process of `tree`: its checkout alone on the path, no VEO_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VEO_")}
    env["PYTHONPATH"] = str(tree)
    return env


def _terminate(process: subprocess.Popen[bytes] | subprocess.Popen[str] | None) -> None:
    """SIGTERM and wait, SIGKILL if it does not end."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RelayProcess:
    """`veo serve` from `tree` on a free port with `data` as its data directory, until the block ends."""

    def __init__(self, tree: Path, data: Path, token: str, args: Sequence[str] = ()) -> None:
        self.tree = tree
        self.data = data
        self.token = token
        self.args = list(args)
        self.log = data.parent / f"{data.name}-serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        """The HTTP base URL the server announced."""

    @property
    def ws_url(self) -> str:
        """The websocket endpoint."""
        return self.url.replace("http", "ws", 1) + "/ws"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> RelayProcess:
        self.data.mkdir(parents=True, exist_ok=True)
        command = [*veo_command(self.tree), "serve", "--data", str(self.data), "--port", "0", "--token", self.token]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *self.args], cwd=self.tree, env=tree_env(self.tree), stdout=log, stderr=subprocess.STDOUT
            )
        began = time.monotonic()
        while not self._announced():
            if self.process.poll() is not None or time.monotonic() - began > START_TIMEOUT:
                self.__exit__(None, None, None)
                raise SystemExit(f"veo serve from {self.tree} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def _announced(self) -> bool:
        """`server.json` names this process (the server writes it once it listens)."""
        try:
            info = json.loads((self.data / "server.json").read_text())
        except (OSError, ValueError):
            return False
        if not isinstance(info, dict) or info.get("pid") != self.pid:
            return False
        self.url = str(info["url"])
        return True

    def rss_kib(self) -> int:
        """The server's resident set size (KiB)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """CPU time the server has used, all threads (user + system)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        _terminate(self.process)


class SimulatorProcess:
    """`veo simulator` from `tree` on a free port, without a rate limit of its own, until the block ends
    (`args`: more of its options, such as the Gemini API's)."""

    def __init__(self, tree: Path, lo: float, hi: float, log: Path, args: Sequence[str] = ()) -> None:
        self.tree = tree
        self.args = ["--port", "0", "--rate", "0", "--lo", str(lo), "--hi", str(hi), "--seed", "1", *args]
        self.log = log
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> SimulatorProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*veo_command(self.tree), "simulator", *self.args],
                cwd=self.tree,
                env=tree_env(self.tree),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()  # it prints its URL once it listens
        if not self.url.startswith("http"):
            self.__exit__(None, None, None)
            raise SystemExit(f"veo simulator did not start:\n{self.log.read_text()[-3000:]}")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        _terminate(self.process)
