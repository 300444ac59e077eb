"""Delta fan-out as users see it: 1,000 websocket clients of a real `veo serve` while generations run.

A `veo serve` process (`--rate 100`, so the budget is not the limit) gets `generate` requests over the
websocket protocol at a rate that makes the target number of row changes per second (each generation makes
several: requested, submitted, started, progress, completed; the driver learns how many during a warm-up).
Flow is `veo simulator` in its own process, without a rate limit and with short render times: the one
built into `veo serve` allows 10 calls a second, which caps a run at about 40 changes/s
(`--builtin-simulator` uses it all the same). The clients, spread over `--processes` processes, are the
standard `websockets` asyncio client subscribed to every channel, parsing every frame with `json`.
Latency runs from the event being recorded (the row's `updated_at`, millisecond precision, so up to 1 ms
pessimistic) to the delta being read by a client, for every delta of every client whose position falls
in the measured window. Dropped: connections the server closed. Missing: deltas of the window that an
open client never read. Meanwhile another client's `get_status` round trips are timed.

Targets: at 50 changes/s p99 <= 250 ms; at 100 changes/s p99 <= 1 s and no client dropped; `get_status`
p99 <= 50 ms. `--before DIR` runs the same scenarios on the server of another checkout, alternating, in
the same run. Everything shares the machine (server, clients, driver): the load average is printed.

    .venv/bin/python bench/fanout.py [--clients 1000] [--rates 50 100] [--seconds 20] [--before DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import tempfile
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from fanout_clients import ClientReport, client_process
from fanout_load import Driver, Probe
from fanout_report import Figures, figures, print_tables
from relay_process import HERE, RelayProcess, SimulatorProcess

__all__ = ["main"]

TOKEN = "fanout-bench-token"
GUESSED_DELTAS_PER_GENERATION = 5.0
MAX_GENERATE_PER_SECOND = 40.0
"""The driver's one connection stays under the server's flood limit (50 requests a second)."""


@dataclass(frozen=True)
class Plan:
    """One scenario: a checkout's server at a target rate of row changes."""

    label: str
    tree: Path
    rate: float


async def _wait(pipes: list[Connection], kind: str) -> list[Any]:
    """The payload of message `kind` from every pipe."""
    loop = asyncio.get_running_loop()
    payloads = []
    for pipe in pipes:
        got, payload = await loop.run_in_executor(None, pipe.recv)
        assert got == kind, (got, kind)
        payloads.append(payload)
    return payloads


def start_clients(url: str, clients: int, processes: int) -> tuple[list[Connection], list[BaseProcess]]:
    """`clients` clients spread over `processes` processes; the pipes to them and the processes."""
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    started: list[BaseProcess] = []
    share, extra = divmod(clients, processes)
    first = 0
    for index in range(processes):
        count = share + (1 if index < extra else 0)
        ours, theirs = context.Pipe()
        process = context.Process(target=client_process, args=(url, TOKEN, first, count, theirs))
        process.start()
        pipes.append(ours)
        started.append(process)
        first += count
    return pipes, started


async def scenario(plan: Plan, args: argparse.Namespace, data: Path) -> Figures:
    """Start the server and the clients, drive the load, measure one window, collect the figures."""
    data.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        low_s, high_s = (float(part) for part in args.simulator_times.split(","))
        if args.builtin_simulator:
            flow = ["--simulator-times", args.simulator_times]
        else:
            simulator = stack.enter_context(SimulatorProcess(HERE, low_s, high_s, data / "simulator.log"))
            flow = ["--flow-url", simulator.url]
        relay = stack.enter_context(
            RelayProcess(plan.tree, data / "relay", TOKEN, ["--rate", "100", *flow, *args.serve_arg])
        )
        pipes, processes = start_clients(relay.ws_url, args.clients, args.processes)
        connected = sum(int(n) for n in await _wait(pipes, "ready"))
        driver = Driver(plan.rate / GUESSED_DELTAS_PER_GENERATION)
        probe = Probe(driver)
        tasks = [
            asyncio.create_task(driver.run(relay.ws_url, TOKEN)),
            asyncio.create_task(probe.run(relay.ws_url, TOKEN)),
        ]
        await asyncio.sleep(args.warmup)
        learned = driver.deltas_per_generation()
        if learned is not None:
            driver.per_second = min(MAX_GENERATE_PER_SECOND, plan.rate / learned)
        await asyncio.sleep(2.0)  # the new rate settles in
        low = await probe.ask()
        round_trips_before = len(driver.round_trips)
        cpu_before, load_before = relay.cpu_seconds(), os.getloadavg()[0]
        began = asyncio.get_running_loop().time()
        probe.measuring = True
        await asyncio.sleep(args.seconds)
        probe.measuring = False
        high = await probe.ask()
        window = asyncio.get_running_loop().time() - began
        server_cpu = (relay.cpu_seconds() - cpu_before) / window
        load_after, rss = os.getloadavg()[0], relay.rss_kib()
        for pipe in pipes:
            pipe.send(("drain", (low, high)))
        reports: list[ClientReport] = await _wait(pipes, "report")
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if not isinstance(outcome, asyncio.CancelledError | None):
                raise RuntimeError("the driver or the probe failed") from outcome
        for process in processes:
            process.join(30)
    return figures(
        plan.label,
        plan.rate,
        args.clients,
        connected,
        reports,
        window,
        probe.round_trips,
        driver.round_trips[round_trips_before:],
        server_cpu=server_cpu,
        rss_mib=rss / 1024,
        load=(load_before, load_after),
        generation_rate=driver.per_second,
        refused=driver.refused,
        learned=learned,
    )


async def run(plans: list[Plan], args: argparse.Namespace) -> list[Figures]:
    results = []
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        for number, plan in enumerate(plans):
            print(f"running {plan.label} at {plan.rate:g} changes/s ...", flush=True)
            results.append(await scenario(plan, args, Path(tmp) / f"data-{number}"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000, help="subscribed clients")
    parser.add_argument("--processes", type=int, default=2, help="client processes the clients are spread over")
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 100.0], help="target row changes/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured window of each scenario")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of load before the window")
    parser.add_argument("--simulator-times", default="1,3", help="render times of the simulator, LO,HI seconds")
    parser.add_argument(
        "--builtin-simulator",
        action="store_true",
        help="use `veo serve`'s built-in simulator (it allows 10 calls/s: about 40 changes/s at most)",
    )
    parser.add_argument("--before", type=Path, help="also run the server of this checkout (the code before)")
    parser.add_argument("--serve-arg", action="append", default=[], help="an extra `veo serve` argument")
    args = parser.parse_args()
    if args.processes < 1 or args.clients < args.processes:
        parser.error("need at least one client per process")
    trees = [("current", HERE)] + ([("before", args.before.resolve())] if args.before else [])
    plans = [Plan(label, tree, rate) for rate in args.rates for label, tree in trees]
    results = asyncio.run(run(plans, args))
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"clients: {args.clients:,} websockets clients in {args.processes} processes, subscribed to every channel; "
        f"window {args.seconds:g} s after {args.warmup:g} s of warm-up; simulator render times {args.simulator_times} s"
    )
    print_tables(results)


if __name__ == "__main__":
    main()
