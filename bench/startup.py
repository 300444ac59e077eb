"""Start-up wall time of the command line: `veo --help`, and `veo status ID` against a running server.

For each checkout (this one, and `--before DIR`), a `veo serve` is started in a temporary data directory
(built-in simulator), one generation is submitted over the websocket protocol, and then each command is
run `--runs` times as a new process (`python -c "from X import main; main()" ...`, the way the `veo`
script runs it), its wall time from start to exit measured. The runs of the checkouts alternate, so a
change of machine load affects both alike. Printed: median and minimum of each, and of `python -c pass`
(the interpreter's own start, the floor).

    .venv/bin/python bench/startup.py [--runs 20] [--before DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from relay_process import HERE, RelayProcess, tree_env, veo_command
from websockets.sync.client import connect

__all__ = ["main"]

TOKEN = "startup-bench-token"


def submit_one(relay: RelayProcess) -> str:
    """One `generate` over the protocol; the new generation's id."""
    with connect(relay.ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, proxy=None) as ws:
        ws.send(json.dumps({"type": "generate", "id": "g", "prompt": "start-up bench"}))
        reply = json.loads(ws.recv(timeout=30))
    if reply.get("type") != "result":
        raise SystemExit(f"generate failed: {reply}")
    return str(reply["data"]["generation_id"])


def timed(tree: Path, command: list[str]) -> float:
    """Wall seconds of one run of `command` from `tree` (it must succeed)."""
    began = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=tree_env(tree), capture_output=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{command} from {tree} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="runs of each command for each checkout")
    parser.add_argument("--before", type=Path, help="also time the commands of this checkout (the code before)")
    args = parser.parse_args()
    trees = [("current", HERE)] + ([("before", args.before.resolve())] if args.before else [])
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp, contextlib.ExitStack() as stack:
        commands = {}
        for label, tree in trees:
            relay = stack.enter_context(RelayProcess(tree, Path(tmp) / label, TOKEN, ["--simulator-times", "1,2"]))
            commands[label] = ["status", submit_one(relay), "--data", str(relay.data)]
        load_before = os.getloadavg()[0]
        for _ in range(args.runs):
            times.setdefault(("-", "python -c pass"), []).append(timed(HERE, [sys.executable, "-c", "pass"]))
            for label, tree in trees:
                veo = veo_command(tree)
                times.setdefault((label, "veo --help"), []).append(timed(tree, [*veo, "--help"]))
                times.setdefault((label, "veo status ID"), []).append(timed(tree, [*veo, *commands[label]]))
        load_after = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{args.runs} runs of each, alternating; load average {load_before:.1f} -> {load_after:.1f}")
    print()
    header = f"{'command':<15} {'checkout':<8} {'median ms':>10} {'min ms':>8}"
    print(header)
    print("-" * len(header))
    for (label, command), values in sorted(times.items(), key=lambda item: item[0][1]):  # stable: current first
        print(f"{command:<15} {label:<8} {1000 * statistics.median(values):>10.0f} {1000 * min(values):>8.0f}")


if __name__ == "__main__":
    main()
