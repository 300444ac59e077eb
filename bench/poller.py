"""Status polling of the whole system against the Flow simulator, with the seed's strategy as the baseline.

For each N, N jobs are already running on a simulator (made by `create_operations`, completing at
instants uniform in [lo, hi] s; the same instants relative to creation for every run) and are recorded
as started generations in a fresh SQLite store. Then, each on its own simulator and store:
- ours: a System (store, projections, PollerActor) starts on that store, restores the jobs and polls
  them through its CheckScheduler, K operations per request, under the budget R; once per status
  contract asked for (`auto` starts with the 2026 `media` contract, whose answers carry no URL, so each
  completion costs one more request, the labs URL look-up; `operations` answers carry the URL);
- seed: the seed's worker (bench/seed_baseline.py): 1-s cycles of <= 10 one-operation requests, x1.5
  backoff per job (optionally also its policy paced like our budget, `--paced-seed`).
Printed per run: detection latency (simulator completion instant -> `Completed` recorded) p50/p90/p99/max,
the most requests the simulator saw in any sliding 1-s window, budget use while work is due, 429s, where
the latency goes; then the seed/ours ratios and the targets.

    .venv/bin/python bench/poller.py                  # N=100 and N=1000, contracts auto and operations (~10 min)
    .venv/bin/python bench/poller.py --n 100 --contract operations --paced-seed
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from detection import RunFigures, quantile
from runs import ContractChoice, Scenario, run_ours, run_seed
from seeding import completion_offsets

logger = logging.getLogger(__name__)

TARGET_P50 = {100: 0.5, 1000: 3.0}
"""The issue's p50 targets (seconds) at these N."""
SEED_MODEL_P50 = {100: 4.0, 1000: 48.0}
"""The issue's figures for a model of the seed's strategy (seconds)."""
NAME_WIDTH = 34


def print_table(scenario: Scenario, ours: list[RunFigures], seeds: list[RunFigures]) -> None:
    """One table per N, where the latency goes, the ratios and the verdicts."""
    print(
        f"\nN={scenario.n} jobs running at once, completions U[{scenario.lo:g}, {scenario.hi:g}] s, "
        f"R={scenario.rate:g} req/s, K={scenario.batch}, seed={scenario.seed}"
    )
    header = f"{'run':{NAME_WIDTH}} {'p50 s':>7} {'p90 s':>7} {'p99 s':>7} {'max s':>7} {'requests':>9} "
    header += f"{'max/1s':>6} {'use':>5} {'429s':>5} {'missed':>6}"
    print(header)
    print("-" * len(header))
    for run in ours + seeds:
        print(
            f"{run.name:{NAME_WIDTH}} {run.p(0.5):7.2f} {run.p(0.9):7.2f} {run.p(0.99):7.2f} {run.p(1.0):7.2f} "
            f"{run.requests:9d} {run.max_in_1s:6d} {run.budget_use:5.0%} {run.throttled:5d} {run.undetected:6d}"
        )
    print("where the latency goes (completion -> first answer reporting it | that answer -> Completed recorded):")
    for run in ours + seeds:
        paths = ", ".join(f"{path.rsplit('/', 1)[-1]} {count}" for path, count in sorted(run.requests_by_path.items()))
        print(
            f"  {run.name:{NAME_WIDTH}} p50 {quantile(run.seen, 0.5):5.2f} s, p99 {quantile(run.seen, 0.99):6.2f} s"
            f" | p50 {quantile(run.handled, 0.5):.3f} s, p99 {quantile(run.handled, 0.99):.3f} s; sent {paths}"
        )
    for seed in seeds:
        for mine in ours:
            p50, p99 = seed.p(0.5) / mine.p(0.5), seed.p(0.99) / mine.p(0.99)
            print(f"ratio {seed.name} / {mine.name}: p50 {p50:.1f}x, p99 {p99:.1f}x")
    model = SEED_MODEL_P50.get(scenario.n)
    if seeds and model is not None:
        print(f"(the issue's model of the seed, which meets no 429s, gives p50 about {model:g} s)")
    target = TARGET_P50.get(scenario.n)
    for mine in ours:
        verdicts = []
        if target is not None:
            met = mine.p(0.5) <= target and mine.undetected == 0
            verdicts.append(f"p50 <= {target:g} s {'meets' if met else 'MISSES'} ({mine.p(0.5):.2f} s)")
        within = mine.max_in_1s <= scenario.rate and mine.throttled == 0
        verdicts.append(f"budget (<= {scenario.rate:g} in every 1-s window, no 429) {'meets' if within else 'MISSES'}")
        print(f"{mine.name}: {'; '.join(verdicts)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000], help="job counts (default: 100 1000)")
    parser.add_argument("--lo", type=float, default=20.0, help="shortest completion time, s (default 20)")
    parser.add_argument("--hi", type=float, default=60.0, help="longest completion time, s (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of completion instants and simulator")
    parser.add_argument("--rate", type=float, default=10.0, help="R, requests per second (default 10)")
    parser.add_argument("--batch", type=int, default=10, help="K, operations per status check (default 10)")
    parser.add_argument(
        "--contract",
        nargs="+",
        choices=["auto", "operations", "media"],
        default=["auto", "operations"],
        help="our profile's status contract, one run each (default: auto operations)",
    )
    parser.add_argument("--only", choices=["ours", "seed"], help="run one side only")
    parser.add_argument(
        "--paced-seed",
        action="store_true",
        help="also run the seed's policy paced like our budget (1.05-s cycles, requests 0.105 s apart)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {python}; simulator in-process over loopback")
    contracts = [cast("ContractChoice", c) for c in dict.fromkeys(args.contract)]
    for n in args.n:
        offsets = completion_offsets(n, args.lo, args.hi, args.seed)
        scenario = Scenario(n, args.lo, args.hi, args.seed, args.rate, args.batch, offsets)
        with tempfile.TemporaryDirectory(prefix="veo-bench-poller-") as tmp:
            ours = [run_ours(scenario, Path(tmp), c) for c in contracts] if args.only != "seed" else []
            seeds = [run_seed(scenario, Path(tmp))] if args.only != "ours" else []
            if args.paced_seed and args.only != "ours":
                seeds.append(run_seed(scenario, Path(tmp), paced=True))
        print_table(scenario, ours, seeds)
    print("\nlatency = simulator completion instant -> Completed recorded in the store (its event timestamp);")
    print("max/1s = most requests the simulator saw in any sliding 1-s window (429s included);")
    print("use = mean requests per whole second inside [first completion, last detection], over R;")
    print("missed = jobs with no Completed when the run ended.")


if __name__ == "__main__":
    main()
