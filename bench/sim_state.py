"""What one save of the built-in simulator's state file costs, as the simulator holds more operations.

The simulator keeps its operations in a state file (`--state`; `veo serve` keeps one in its data directory)
and saves up to five times a second while anything changes. A save holds the GIL while it collects and
encodes what it writes, which the relay's event loop in the same process waits out. Baseline in the same
run: rewriting the whole file (what every save did before the journal, and what the first save after start
and the first after a failure still do). Measured: a journal save (append what changed: `--changes`
operations created or seen finished since the last save), on a real file with fsync.

    .venv/bin/python bench/sim_state.py
    .venv/bin/python bench/sim_state.py --sizes 1000 10000 50000 --repeat 20
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from veo_simulator.config import SimulatorConfig
from veo_simulator.core import SimCore
from veo_simulator.persistence import StateFile, StateSnapshot
from veo_simulator.state import NewOperation


class StepClock:
    """A wall clock that moves 10 ms per reading, so operations finish as the bench goes."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


def timed(action: Callable[[], object]) -> tuple[float, object]:
    began = time.perf_counter()
    result = action()
    return (time.perf_counter() - began) * 1000, result


def change(core: SimCore, count: int, serial: list[int]) -> None:
    """``count`` changes: half new operations (with their scene count and captcha), half seen finished."""
    with core.lock:
        for _ in range(count - count // 2):
            serial[0] += 1
            scene = f"scene-{serial[0]}"
            core.captcha.consume(f"captcha-{serial[0]}")
            core.book.create(NewOperation(scene_id=scene, prompt="a bench prompt " * 20))
            core.audit.created([scene])
        unseen = (op for op in core.book.all() if op.first_seen_terminal_at is None)
        for op, _ in zip(unseen, range(count // 2), strict=False):
            core.book.observe(op)


def measure(size: int, changes: int, repeat: int, directory: Path) -> dict[str, float]:
    clock = StepClock()
    path = directory / f"state-{size}.json"
    core = SimCore(SimulatorConfig(lo=0.5, hi=30.0, seed=1, state_file=path), clock, clock)
    serial = [0]
    change(core, 2 * size, serial)
    file = StateFile(path)
    whole_cpu, whole_wall, journal_cpu, journal_wall = [], [], [], []
    for _ in range(repeat):
        change(core, changes, serial)
        cpu, _ = timed(lambda: msgspec.json.encode(core.snapshot()))
        wall, _ = timed(lambda: file.rewrite(core.snapshot()))
        whole_cpu.append(cpu)
        whole_wall.append(wall)
        change(core, changes, serial)
        cpu, _ = timed(lambda: msgspec.json.encode(core.changes() or StateSnapshot()))
        change(core, changes, serial)
        wall, _ = timed(lambda: file.append(core.changes() or StateSnapshot()))
        journal_cpu.append(cpu)
        journal_wall.append(wall)
    file.close()
    load_ms, _ = timed(file.load)
    return {
        "operations": float(len(core.book.all())),
        "whole_cpu": statistics.median(whole_cpu),
        "whole_wall": statistics.median(whole_wall),
        "journal_cpu": statistics.median(journal_cpu),
        "journal_wall": statistics.median(journal_wall),
        "file_kib": path.stat().st_size / 1024,
        "lines": float(path.read_bytes().count(b"\n")),
        "load_ms": load_ms,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000, 20000])
    parser.add_argument("--changes", type=int, default=10, help="changes between two saves (default 10)")
    parser.add_argument("--repeat", type=int, default=10, help="saves of each kind per size (default 10)")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.system()}")
    print(f"each save follows {args.changes} changes; median of {args.repeat} saves; GIL = collect + encode")
    header = "operations | whole file: GIL / wall ms | journal: GIL / wall ms | GIL ratio | file KiB, lines | load ms"
    print(header)
    with tempfile.TemporaryDirectory(prefix="veo-sim-state-") as directory:
        for size in args.sizes:
            r = measure(size, args.changes, args.repeat, Path(directory))
            print(
                f"{r['operations']:>10,.0f} | {r['whole_cpu']:>8.2f} / {r['whole_wall']:>7.2f} "
                f"| {r['journal_cpu']:>7.3f} / {r['journal_wall']:>6.2f} "
                f"| x{r['whole_cpu'] / r['journal_cpu']:>7.0f} | {r['file_kib']:>8,.0f}, {r['lines']:>3.0f} "
                f"| {r['load_ms']:>7.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
