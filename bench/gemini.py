"""The Gemini API backend under its per-minute quota: a real `veo serve` with one Gemini profile, `veo simulator`.

For each `--video-size`, a `veo simulator` process speaks the Gemini API with one key allowing `--rpm`
`predictLongRunning` calls in any sliding minute, every render taking `--render` seconds, and no per-second
limit of its own (so it counts what the relay sends instead of refusing it); a `veo serve` process (`--rate R`)
has one Gemini profile on that key with `rpm` = `--rpm`. `--jobs` generations are sent at once over the
websocket protocol and waited for until every video is stored.

Printed, from the simulator's audit (it counts calls as they arrive, whatever the answer):
- no minute over the quota: the most `predictLongRunning` calls in any sliding 60 s, and the most accepted,
  against `--rpm`, and the quota 429s;
- no second over the budget: the most requests of any kind in any sliding 1 s against R;
- makespan, from the first `generate` to the last `Completed`, against the bound the quota sets: the last of N
  submissions cannot start before 60 * floor((N - 1) / rpm) s, and its video takes one render more (the relay
  keeps the quota in any 61 s, `actors.minute_quota.WINDOW`, so its own floor is 61 * floor(...) + render);
  and what it is made of: when the last submission was accepted, and how long after an operation finished the
  relay's first check saw it done (the audit's `complete_at` and `first_seen_done_at`);
- Completed -> VideoStored (the rows' `completed_at` and `video_stored_at`) p50/p99/max, against downloading
  the same bytes straight from the simulator with httpx (`--baseline` of the files, one at a time, the same
  redirect the relay follows).

    .venv/bin/python bench/gemini.py [--jobs 100] [--rpm 10] [--rate 10] [--render 30]
                                     [--video-size 131072 8388608]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fanout_report import quantile
from relay_process import HERE, RelayProcess, SimulatorProcess
from websockets.sync.client import ClientConnection, connect

from actors.minute_quota import WINDOW

__all__ = ["main"]

TOKEN = "gemini-bench-token"
KEY = "AIzaSyBench-gemini-key-0123456789abcdef"
PROFILE = "gem"
POLL_S = 1.0
GRACE_S = 300.0
"""How long past the bound the bench waits for the last video before giving up."""


@dataclass(frozen=True)
class Figures:
    """One video size's run."""

    size: int
    jobs: int
    completed: int
    stored: int
    predict_calls: int
    max_calls_60s: int
    max_accepted_60s: int
    quota_429: int
    max_any_1s: int
    makespan_s: float
    bound_s: float
    relay_bound_s: float
    fed_s: float
    last_submission_s: float
    detection_ms: list[float]
    store_ms: list[float]
    direct_ms: list[float]
    load: tuple[float, float]


def _epoch(iso: str) -> float:
    """A row time (`2025-06-01T10:00:00.000Z`) in epoch seconds."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _ask(ws: ClientConnection, request: dict[str, Any]) -> Any:
    """Send one request and return its result's data (any other answer ends the bench)."""
    ws.send(json.dumps(request))
    while True:
        reply = json.loads(ws.recv(timeout=60))
        if reply.get("id") == request["id"]:
            break
    if reply.get("type") != "result":
        raise SystemExit(f"{request['type']} failed: {reply}")
    return reply["data"]


def _settled(row: dict[str, Any]) -> bool:
    """Nothing more will happen to the row: it failed, or it completed and its video was stored."""
    return row["status"] in ("failed", "cancelled") or row.get("video_stored_at") is not None


def drive(relay: RelayProcess, jobs: int, deadline: float) -> tuple[float, float, list[dict[str, Any]]]:
    """Send `jobs` generations to the Gemini profile, one at a time; the instants the first was sent and the last
    answered, and the settled rows."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with connect(relay.ws_url, additional_headers=headers, proxy=None, max_size=2**22) as ws:
        began = time.time()
        ids = []
        for n in range(jobs):
            request = {"type": "generate", "id": f"g{n}", "prompt": f"gemini bench {n}", "profile_id": PROFILE}
            ids.append(str(_ask(ws, request)["generation_id"]))
        fed = time.time()
        asked = 0
        while True:
            asked += 1
            rows: list[dict[str, Any]] = _ask(ws, {"type": "get_statuses", "id": f"s{asked}", "generation_ids": ids})
            if len(rows) == jobs and all(_settled(row) for row in rows):
                return began, fed, rows
            if time.time() > deadline:
                waiting = sum(not _settled(row) for row in rows)
                raise SystemExit(f"{waiting} of {jobs} generations not settled in time; see {relay.log}")
            time.sleep(POLL_S)


def direct_downloads(rows: list[dict[str, Any]], count: int) -> list[float]:
    """Milliseconds to download `count` of the videos straight from the simulator, one at a time."""
    took = []
    with httpx.Client(trust_env=False, timeout=60, follow_redirects=True) as http:
        for row in rows[:count]:
            began = time.perf_counter()
            answer = http.get(row["video_url"], headers={"x-goog-api-key": KEY})
            answer.raise_for_status()
            took.append(1000 * (time.perf_counter() - began))
    return took


def scenario(args: argparse.Namespace, size: int, data: Path) -> Figures:
    """One video size: the simulator and the relay, the jobs, the audit, the baseline downloads."""
    data.mkdir(parents=True)
    profiles = data / "profiles.toml"
    gemini = ["--gemini-key", KEY, "--gemini-rpm", str(args.rpm), "--video-size", str(size)]
    rounds = (args.jobs - 1) // args.rpm
    bound = 60.0 * rounds + args.render
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        simulator = stack.enter_context(
            SimulatorProcess(HERE, args.render, args.render, data / "simulator.log", gemini)
        )
        profiles.write_text(
            f'[profiles.{PROFILE}]\nbackend = "gemini"\napi_key = "{KEY}"\nbase_url = "{simulator.url}"\n'
            f"rpm = {args.rpm}\n"
        )
        profiles.chmod(0o600)
        serve = ["--rate", str(args.rate), "--profiles", str(profiles), "--flow-url", simulator.url]
        relay = stack.enter_context(RelayProcess(HERE, data / "relay", TOKEN, serve))
        began, fed, rows = drive(relay, args.jobs, time.time() + bound + GRACE_S)
        audit = httpx.get(f"{simulator.url}/_sim/audit", trust_env=False, timeout=60).json()
        completed = [row for row in rows if row["status"] == "completed"]
        direct = direct_downloads(completed, args.baseline)
    (key,) = audit["gemini"]["keys"].values()
    operations = audit["gemini"]["operations"]
    seen = [op for op in operations if op["first_seen_done_at"] is not None]
    stored = [row for row in completed if row.get("video_stored_at")]
    return Figures(
        size=size,
        jobs=args.jobs,
        completed=len(completed),
        stored=len(stored),
        predict_calls=key["predict_calls"],
        max_calls_60s=key["max_calls_in_any_60s_window"],
        max_accepted_60s=key["max_accepted_in_any_60s_window"],
        quota_429=key["quota_429"],
        max_any_1s=audit["max_in_any_1s_window"],
        makespan_s=max(_epoch(row["completed_at"]) for row in rows) - began,
        bound_s=bound,
        relay_bound_s=WINDOW * rounds + args.render,
        fed_s=fed - began,
        last_submission_s=max(op["created_at"] for op in operations) - began,
        detection_ms=sorted(1000 * (op["first_seen_done_at"] - op["complete_at"]) for op in seen),
        store_ms=sorted(1000 * (_epoch(r["video_stored_at"]) - _epoch(r["completed_at"])) for r in stored),
        direct_ms=sorted(direct),
        load=(load_before, os.getloadavg()[0]),
    )


def _ms(values: list[float]) -> str:
    """p50 / p99 / max of sorted milliseconds."""
    return f"{quantile(values, 0.5):,.0f} / {quantile(values, 0.99):,.0f} / {max(values, default=0):,.0f}"


def header(args: argparse.Namespace) -> None:
    """The machine and the scenario."""
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"{args.jobs} jobs on one key, rpm {args.rpm}, relay --rate {args.rate:g}, render {args.render:g} s; "
        f"bound = 60 * floor((jobs - 1) / rpm) + render (the relay's own, with its margin: "
        f"{WINDOW:g} * floor((jobs - 1) / rpm) + render)",
        flush=True,
    )


def report(f: Figures, args: argparse.Namespace) -> None:
    """One size's figures, each beside its bound or baseline and a verdict."""
    print()
    print(f"video {f.size:,} bytes; load average {f.load[0]:.1f} -> {f.load[1]:.1f}")
    print(f"  completed {f.completed}/{f.jobs}, stored {f.stored}, predictLongRunning calls {f.predict_calls}")
    minute = "ok" if f.max_calls_60s <= args.rpm else "OVER"
    print(
        f"  quota: max calls in any 60 s {f.max_calls_60s} (accepted {f.max_accepted_60s}) vs rpm {args.rpm}, "
        f"quota 429s {f.quota_429}: {minute}"
    )
    second = "ok" if f.max_any_1s <= args.rate else "OVER"
    print(f"  budget: max requests in any 1 s {f.max_any_1s} vs R {args.rate:g}: {second}")
    print(
        f"  makespan {f.makespan_s:,.1f} s vs bound {f.bound_s:,.1f} s: "
        f"+{f.makespan_s - f.bound_s:,.1f} s ({f.makespan_s / f.bound_s:.3f}x); "
        f"vs the relay's {f.relay_bound_s:,.1f} s: +{f.makespan_s - f.relay_bound_s:,.1f} s"
    )
    print(
        f"  of which: every generate answered at {f.fed_s:,.1f} s, the last submission accepted at "
        f"{f.last_submission_s:,.1f} s; a finished operation first "
        f"seen done after p50 / p99 / max ms: {_ms(f.detection_ms)}"
    )
    print(f"  Completed -> VideoStored p50 / p99 / max ms: {_ms(f.store_ms)}")
    print(
        f"  baseline, httpx straight from the simulator ({len(f.direct_ms)} files) ms: {_ms(f.direct_ms)}", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100, help="generations on the one key")
    parser.add_argument("--rpm", type=int, default=10, help="the key's predictLongRunning calls per minute")
    parser.add_argument("--rate", type=float, default=10.0, help="the relay's global budget R (requests/s)")
    parser.add_argument("--render", type=float, default=30.0, help="seconds every video takes the simulator")
    parser.add_argument(
        "--video-size", type=int, nargs="+", default=[128 * 1024, 8 * 1024 * 1024], help="video bytes, one run each"
    )
    parser.add_argument("--baseline", type=int, default=20, help="videos downloaded straight from the simulator")
    args = parser.parse_args()
    if args.jobs < 1 or args.rpm < 1:
        parser.error("--jobs and --rpm must be positive")
    header(args)
    with tempfile.TemporaryDirectory(prefix="gemini-bench-") as tmp:
        for size in args.video_size:
            report(scenario(args, size, Path(tmp) / f"size-{size}"), args)


if __name__ == "__main__":
    main()
