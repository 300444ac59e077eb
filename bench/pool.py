"""The account pool against a Flow that limits each account on its own: makespan against the bound the limits
allow, videos per hour, throttles and hard blocks per account, and the baseline of one account in the same run.

Each run is a real `veo serve` (profiles file, `--flow-url`) and a `veo simulator` process of its own that
throttles every account at `--active` generations active and `--gap` seconds between submissions, hard-blocks
it after `--throttles-before-block` throttles within `--window` seconds, and gives the last account a quota of
`--quota` generations. Renders take U[`--lo`, `--hi`] seconds. One websocket client sends the prompts as one
`batch_generate` (`delay_ms` 0): without `profile_id` (the pool), and in the baseline pinned to the first
account (what one account gets, all jobs on it). The profiles keep the relay's defaults (4 active, 2 s apart)
unless `--profile-active`/`--profile-gap` say otherwise (set them past the simulator's limits to see learning).

The bound is the shortest makespan the limits allow, from the render times the simulator drew (its audit):
  bound = max(W / (n * A), (W - Wq) / ((n - 1) * A), longest render)
W: every render's seconds added up; n accounts of A active each; Wq: the q longest renders, the most work the
account with a quota of q can take off the others. Gaps are left out: an account of A places with renders of
at least `--lo` seconds needs a submission every lo/A seconds at most, slower than the gap.

`--scale F` multiplies every simulated time (renders, gap, window, block) and the profiles' gap by F, for a
quick look; the relay's own pause ladder (10 s, 30 s, ...) and its status checks do not scale, so a scaled run
is a little further from its bound. Both runs go at once (they mostly wait); the load average is printed.

    .venv/bin/python bench/pool.py                 # the issue's sizes: 90 prompts, renders 20-60 s (~15 min)
    .venv/bin/python bench/pool.py --scale 0.1     # a quick look (~2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from relay_process import HERE, RelayProcess, SimulatorProcess
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(HERE))

from veo_simulator import bearer_account

__all__ = ["main"]

TOKEN = "pool-bench-token"
ACCOUNTS = ("a", "b", "c")
"""The last one has the quota."""
TOKEN_OF = {name: f"ya29.bench-{name}" for name in ACCOUNTS}
RELAY_GAP_S = 2.0
"""The relay's default `submit_gap` (actors.profiles.DEFAULT_SUBMIT_GAP), scaled with the rest."""
POLL_S = 0.5


@dataclass(frozen=True)
class Plan:
    """One run: the prompts without a profile (the pool), or all pinned to one account."""

    label: str
    pinned: str | None


@dataclass(frozen=True)
class Figures:
    """What one run measured."""

    label: str
    makespan: float
    bound: float
    statuses: dict[str, int]
    used: dict[str, int]
    """Jobs each account ran (the history rows' `profile_id`)."""
    accounts: dict[str, dict[str, Any]]
    """The simulator's audit of each account."""
    load: tuple[float, float]


def profiles_text(args: argparse.Namespace) -> str:
    """The profiles file: one bearer token per account, no reCAPTCHA (the simulator checks none)."""
    limits = f"submit_gap = {args.profile_gap * args.scale:g}\n"
    if args.profile_active is not None:
        limits += f"max_active = {args.profile_active}\n"
    return "".join(
        f'[profiles.{name}]\nproject_id = "bench-{name}"\nbearer_token = "{TOKEN_OF[name]}"\nrecaptcha = "off"\n'
        f"{limits}\n"
        for name in ACCOUNTS
    )


def simulator_args(args: argparse.Namespace) -> list[str]:
    """The simulator's per-account limits, scaled."""
    s = args.scale
    return [
        *("--account-active", str(args.active), "--account-gap", f"{args.gap * s:g}"),
        *("--account-throttles-before-block", str(args.throttles_before_block)),
        *("--account-window", f"{args.window * s:g}", "--account-block", f"{args.block * s:g}"),
        *("--account-quota-for", f"{TOKEN_OF[ACCOUNTS[-1]]}={args.quota}"),
    ]


def bound(renders: Sequence[float], accounts: int, active: int, quota: int | None) -> float:
    """The shortest makespan the per-account limits allow for these renders (see the module's docstring)."""
    work = sum(renders)
    shortest = max(work / (accounts * active), max(renders, default=0.0))
    if quota is None or accounts == 1:
        return shortest
    spared = sum(sorted(renders)[-quota:]) if quota else 0.0
    return max(shortest, (work - spared) / ((accounts - 1) * active))


class Client:
    """The protocol's requests over one websocket connection, answered by id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def ask(self, kind: str, **fields: Any) -> Any:
        request_id = f"b{next(self._ids)}"
        await self.ws.send(json.dumps({"type": kind, "id": request_id, **fields}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == request_id:
                if message["type"] != "result":
                    raise RuntimeError(f"{kind} refused: {message}")
                return message["data"]


def _instant(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


async def drive(relay: RelayProcess, plan: Plan, prompts: int, timeout: float) -> list[dict[str, Any]]:
    """Send the batch, wait until every job is terminal, return the rows."""
    async with connect(relay.ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, proxy=None) as ws:
        client = Client(ws)
        pinned = {} if plan.pinned is None else {"profile_id": plan.pinned}
        batch = await client.ask(
            "batch_generate", prompts=[f"a lighthouse at dusk, take {i}" for i in range(prompts)], delay_ms=0, **pinned
        )
        deadline = time.monotonic() + timeout
        while True:
            row = await client.ask("get_batch", batch_id=batch["batch_id"])
            if row["completed"] + row["failed"] + row["cancelled"] == prompts:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{plan.label}: not finished after {timeout:.0f} s: {row}")
            await asyncio.sleep(POLL_S)
        rows: list[dict[str, Any]] = await client.ask("get_statuses", generation_ids=batch["generation_ids"])
        return rows


def run_plan(plan: Plan, args: argparse.Namespace, data: Path) -> Figures:
    """One run on its own simulator and relay processes."""
    data.mkdir(parents=True)
    profiles = data / "profiles.toml"
    profiles.write_text(profiles_text(args))
    profiles.chmod(0o600)
    s = args.scale
    load_before = os.getloadavg()[0]
    with SimulatorProcess(HERE, args.lo * s, args.hi * s, data / "simulator.log", simulator_args(args)) as sim:
        flow = ["--flow-url", sim.url, "--labs-url", sim.url, "--profiles", str(profiles), "--keep-videos", "no"]
        with RelayProcess(HERE, data / "relay", TOKEN, flow) as relay:
            timeout = 4 * args.prompts * args.hi * s / args.active + 300
            rows = asyncio.run(drive(relay, plan, args.prompts, timeout))
        audit = httpx.get(f"{sim.url}/_sim/audit", timeout=30, trust_env=False).json()
    renders = [op["complete_at"] - op["created_at"] for op in audit["operations"]]
    accounts = ACCOUNTS if plan.pinned is None else (plan.pinned,)
    quota = args.quota if ACCOUNTS[-1] in accounts else None
    finished = [_instant(r["completed_at"] or r["updated_at"]) for r in rows]
    makespan = max(finished) - min(_instant(r["created_at"]) for r in rows)
    statuses: dict[str, int] = {}
    used: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        used[str(row["profile_id"])] = used.get(str(row["profile_id"]), 0) + 1
    by_account = {name: audit["accounts"].get(bearer_account(TOKEN_OF[name]), {}) for name in ACCOUNTS}
    return Figures(
        label=plan.label,
        makespan=makespan,
        bound=bound(renders, len(accounts), args.active, quota),
        statuses=statuses,
        used=used,
        accounts={name: figures for name, figures in by_account.items() if figures},
        load=(load_before, os.getloadavg()[0]),
    )


def report(figures: Figures, prompts: int) -> None:
    """The run's figures against the targets (0 hard blocks, at most 3 throttles per account, within 1.2x)."""
    ratio = figures.makespan / figures.bound if figures.bound else float("inf")
    print(f"\n== {figures.label}")
    print(f"  jobs: {figures.statuses}; on each account: {dict(sorted(figures.used.items()))}")
    print(
        f"  makespan {figures.makespan:.1f} s, bound {figures.bound:.1f} s: {ratio:.2f}x the bound; "
        f"{prompts / figures.makespan * 3600:.0f} videos/hour"
    )
    for name, account in figures.accounts.items():
        print(
            f"  account {name}: {account['generations_accepted']} accepted, throttled {account['throttled_total']}x "
            f"{account['throttled'] or ''}, hard blocks {len(account['blocks'])}, answers refused by a block "
            f"{account['blocked_answers']}, quota refusals {account['quota_refusals']}, "
            f"most active at once {account['max_active_seen']}"
        )
    blocks = sum(len(a["blocks"]) for a in figures.accounts.values())
    throttles = max((a["throttled_total"] for a in figures.accounts.values()), default=0)
    print(
        f"  targets: hard blocks {blocks} (0), most throttles on one account {throttles} (<= 3), "
        f"makespan {ratio:.2f}x the bound (<= 1.2)"
    )
    print(f"  load average {figures.load[0]:.2f} before, {figures.load[1]:.2f} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=90)
    parser.add_argument("--lo", type=float, default=20.0, help="shortest render, seconds")
    parser.add_argument("--hi", type=float, default=60.0, help="longest render, seconds")
    parser.add_argument("--active", type=int, default=4, help="the simulator's active generations per account")
    parser.add_argument("--gap", type=float, default=1.5, help="the simulator's least seconds between submissions")
    parser.add_argument("--throttles-before-block", type=int, default=3)
    parser.add_argument("--window", type=float, default=60.0, help="seconds counting throttles toward a block")
    parser.add_argument("--block", type=float, default=600.0, help="hard block length, seconds")
    parser.add_argument("--quota", type=int, default=10, help="generations the last account may make")
    parser.add_argument("--profile-active", type=int, help="the profiles' max_active (default: the relay's, 4)")
    parser.add_argument("--profile-gap", type=float, default=RELAY_GAP_S, help="the profiles' submit_gap, seconds")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every simulated time by this")
    parser.add_argument("--only", choices=("pool", "baseline"), help="run one of the two")
    args = parser.parse_args()
    plans = [Plan("pool: 3 accounts, no profile_id", None), Plan(f"baseline: all pinned to {ACCOUNTS[0]}", ACCOUNTS[0])]
    plans = [p for p in plans if args.only is None or p.label.startswith(args.only)]
    print(
        f"{args.prompts} prompts, renders U[{args.lo * args.scale:g}, {args.hi * args.scale:g}] s; the simulator "
        f"throttles at {args.active} active and {args.gap * args.scale:g} s apart, blocks after "
        f"{args.throttles_before_block} throttles in {args.window * args.scale:g} s "
        f"(for {args.block * args.scale:g} s); account {ACCOUNTS[-1]} has a quota of {args.quota}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="pool-bench-") as tmp, ThreadPoolExecutor(len(plans)) as pool:
        runs = [pool.submit(run_plan, plan, args, Path(tmp) / f"run-{i}") for i, plan in enumerate(plans)]
        results = [run.result() for run in runs]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for figures in results:
        report(figures, args.prompts)


if __name__ == "__main__":
    main()
