"""Hostile clients against a real `veo serve`: does a well-behaved client notice, and does memory stay bounded?

A robustness check: the server must stay up, answer, and keep its memory bounded under every attack.
A `veo serve` process (built-in simulator, fast jobs) starts on a store seeded with a long history
(large rows, so a client replaying the journal pulls tens of MB). A producer submits one generation
every 200 ms in every phase, so deltas keep flowing. Well-behaved clients (the probes, `--probes` of them,
4 by default) each send `get_status` requests one after another, 25 ms apart (40 a second, under the
per-connection flood limit of 50), their requests spread evenly over the 25 ms, and time each round trip.
Their latency with and without the attackers is printed for information (it is no target):

- quiet: nothing else is connected;
- attack: another process runs the attackers at once for `--seconds`, and on until the fuzzers have sent
  `--fuzz` frames at `--fuzz-rate` a second (15,000 at 1,000/s; `--fuzz-rate 0`: as fast as the server
  answers, as earlier sessions did, so they finish early and the rest of the phase has the other attackers
  only): fuzzers (8 connections; mutated requests, JSON
  junk, truncated JSON, deep nesting, huge strings, binary frames; each sent once the previous one is
  answered, each connection replaced after 150 frames, so every frame is decoded and answered), flooders
  (2 connections; valid requests as fast as the socket takes them, until closed with 1008, then again),
  oversize frames (1 MiB + 1 byte every 250 ms: closed with 1009), unauthenticated upgrades (20 a second:
  401) and slow readers (subscribe to every channel from position 0, then never read). The phase (and its
  round trips) goes on after the attackers' process ends until the server has closed all their connections.

Placement. In production the attackers and the well-behaved client are other machines: neither their CPU
nor the client's is the server's. Here everything shares the machine, so by default (`apart`) the server
(every thread of `veo serve`, its simulator included) runs alone on one CPU and the probe on another, where
the attackers' process runs too, at idle priority (SCHED_IDLE: it gets the CPU only when the probe does not
want it). Quiet and attack phases use the same placement, so the comparison shows what the hostile traffic
costs the server, not what the attackers' own CPU use or the server's takes from the probe's client.
`pinned` (server and probe share one CPU, attackers on the other, at normal priority) and `unpinned`
(everything free to use every CPU) are there for transparency: with them, the probe's own client work
waits behind the server's or the attackers', which is the machine's sharing, not the server's behaviour.
`--placement all` runs the three, alternating.

Rounds. Quiet and attack phases alternate (`--rounds` of each per placement, the placements alternating
too), so a change of machine load affects both sides alike; a quiet phase begins once the server has closed
every connection of the attack before it, and 1 s later (`settle`: the end of an attack is still the attack's
cost, not quiet). Each round's p50/p90/p99 are computed
separately; the summary is the median over rounds of each, with the attack/quiet ratio of the medians
and the range of the per-round ratios; then the same quantiles over every round trip of every round
pooled. Also printed: what the attackers got
(replies, close codes), the server's RSS before the first round, its peak during any attack and 2 s after
the last one, the server's CPU use in each phase (all its threads, as a share of one CPU: on one CPU, the
busier the server, the longer a request waits for it), and whether it still answers. `--attackers` runs a
subset, to see which one costs; `--attackers none` is the control: "attack" phases without attackers, so
the ratios it prints are what the machine alone makes of two quiet phases (the bench's noise floor).
`--attackers load` is the other control, meant alone: no connection to the server at all, only a thread
in the attackers' process (their CPU, their idle priority) busy about half the time, as the attackers are
on that CPU: what the machine makes of a busy neighbour CPU, with the server as quiet as in a quiet phase.

    .venv/bin/python bench/hostile.py                        # 15,000 fuzzed frames a round, all attackers
    .venv/bin/python bench/hostile.py --fuzz-rate 0          # the fuzzers as fast as answered, then done
    .venv/bin/python bench/hostile.py --attackers flood      # one attacker alone
    .venv/bin/python bench/hostile.py --attackers none       # the control: quiet against quiet
    .venv/bin/python bench/hostile.py --attackers load       # the other control: a busy neighbour CPU only
    .venv/bin/python bench/hostile.py --placement all --rounds 5
    .venv/bin/python bench/hostile.py --trace trace.jsonl    # each round trip, to see when the slow ones happen
    .venv/bin/python bench/hostile.py --serve-arg=--rate=20  # any `veo serve` option
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the relay process helper lives in tests/reliability

from hostile_attackers import ATTACKERS, CONTROLS, AttackTally, attack_process, place
from seeding import seed_finished

from tests.reliability.processes import KillableRelay, free_port
from veo_client.relay_client import AUTO_ID, RelayClient
from veo_protocol import Generate

SEED_JOBS = 2000
SEED_PROMPT_CHARS = 4000
SETTLE_SECONDS = 1.0
PROBE_INTERVAL_S = 0.025
"""Between one probe's requests: 40 a second, under the per-connection flood limit of 50."""


# --- the store and the server ---------------------------------------------------------------------


class RssSampler:
    """Samples a process's resident set size every 50 ms in a thread."""

    def __init__(self, relay: KillableRelay) -> None:
        self.relay = relay
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.relay.rss_kib())
            self._stop.wait(0.05)


# --- the well-behaved client and the producer ------------------------------------------------------


async def probe(
    url: str,
    token: str,
    generation_id: UUID,
    done: asyncio.Event,
    trace: list[tuple[float, float, float]],
    start: float,
    delay: float = 0.0,
) -> list[float]:
    """After `delay` seconds, `get_status` round trips (seconds), 25 ms apart, until `done` is set (one at least);
    each also goes to `trace` as (seconds since the phase began, milliseconds, Unix time sent); `start`: the
    phase's `perf_counter()`."""
    samples: list[float] = []
    unix = time.time() - time.perf_counter()  # perf_counter() + unix: the Unix time, to line up with other logs
    request = json.dumps({"type": "get_status", "id": "probe", "generation_id": str(generation_id)})
    async with connect(
        url.replace("http", "ws", 1) + "/ws", additional_headers={"Authorization": f"Bearer {token}"}, proxy=None
    ) as ws:
        await asyncio.sleep(delay)
        while not samples or not done.is_set():
            began = time.perf_counter()
            await ws.send(request)
            reply = json.loads(await ws.recv())
            elapsed = time.perf_counter() - began
            if reply["type"] != "result":
                raise RuntimeError(f"the probe's get_status failed: {reply}")
            samples.append(elapsed)
            trace.append((round(began - start, 4), round(elapsed * 1000, 3), round(unix + began, 6)))
            await asyncio.sleep(PROBE_INTERVAL_S)
    return samples


async def probes(
    url: str, token: str, generation_id: UUID, count: int, over: Callable[[], Awaitable[bool]], trace: list[Any]
) -> list[float]:
    """`count` probes at once, their requests spread evenly over each 25 ms, until `over()`: every round trip
    (seconds), and in `trace` by the time it was sent."""
    done, start = asyncio.Event(), time.perf_counter()
    stagger = PROBE_INTERVAL_S / count
    running = [
        asyncio.create_task(probe(url, token, generation_id, done, trace, start, index * stagger))
        for index in range(count)
    ]
    while not await over():
        await asyncio.sleep(0.05)
    done.set()
    trace.sort(key=lambda trip: trip[2])
    return [sample for samples in await asyncio.gather(*running) for sample in samples]


async def produce(url: str, token: str, stop: asyncio.Event) -> int:
    """One generation every 200 ms until `stop`: deltas keep flowing."""
    made = 0
    async with RelayClient(url, token) as client:
        while not stop.is_set():
            await client.call(Generate(id=AUTO_ID, prompt=f"background {made}"))
            made += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    return made


# --- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which CPUs the server, the probe and the attackers use, and whether the attackers run at idle priority."""

    name: str
    server: set[int]
    probe: set[int]
    attackers: set[int]
    idle_attackers: bool = False

    def describe(self) -> str:
        """In words."""
        if self.server == self.attackers:
            return f"unpinned: server, probe and attackers free to use CPUs {sorted(self.server)}"
        if self.idle_attackers:
            return (
                f"apart: server alone on CPU {sorted(self.server)}; probe on CPU {sorted(self.probe)} with the "
                "attackers, which run at idle priority (SCHED_IDLE) so that they never delay the probe"
            )
        return f"pinned: server + probe on CPU {sorted(self.server)}, attackers on CPU {sorted(self.attackers)}"


def placements(choice: str) -> list[Placement]:
    """The placements to run: apart and pinned (two CPUs at least) and/or unpinned."""
    every = sorted(os.sched_getaffinity(0))
    if choice != "unpinned" and len(every) < 2:
        raise SystemExit(f"--placement {choice} needs two CPUs")
    unpinned = Placement("unpinned", set(every), set(every), set(every))
    if choice == "unpinned":
        return [unpinned]
    one, other = {every[-1]}, {every[-2]}
    apart = Placement("apart", one, other, other, idle_attackers=True)
    pinned = Placement("pinned", one, one, other)
    chosen = {"apart": [apart], "pinned": [pinned], "all": [apart, pinned, unpinned]}
    return chosen[choice]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` has used so far, every thread's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy(pid: int, work: Callable[[], list[float]]) -> tuple[list[float], float]:
    """Run `work`; its result and the share of one CPU process `pid` used meanwhile."""
    began, cpu = time.monotonic(), cpu_seconds(pid)
    result = work()
    return result, (cpu_seconds(pid) - cpu) / (time.monotonic() - began)


async def phase(
    relay: KillableRelay,
    known: UUID,
    seconds: float,
    trace: list[tuple[float, float, float]],
    count: int,
    attacker: BaseProcess | None = None,
    started: Any = None,
) -> list[float]:
    """One measured phase: `seconds` of `count` probes' round trips, or the attacker's lifetime."""
    stop = asyncio.Event()
    producer = asyncio.create_task(produce(relay.url, relay.token, stop))
    url, token = relay.url, relay.token
    if attacker is None:
        ends = time.monotonic() + seconds

        async def over() -> bool:
            return time.monotonic() >= ends

    else:
        attacker.start()
        await asyncio.to_thread(started.wait, 60)

        async def over() -> bool:  # the attackers are gone, and so are their connections: their end is their cost too
            return not attacker.is_alive() and await clients_now(relay) <= count + 1  # the probes, the producer

    samples = await probes(url, token, known, count, over, trace)
    stop.set()
    await producer
    return samples


@dataclass
class Rounds:
    """One placement's rounds: per-round quantiles of each phase."""

    placement: Placement
    quiet: list[tuple[float, float, float]] = field(default_factory=list)
    attack: list[tuple[float, float, float]] = field(default_factory=list)
    samples: list[tuple[int, int]] = field(default_factory=list)
    pooled: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    """Every round trip of every round, quiet and attack (seconds)."""
    cpu: list[tuple[float, float]] = field(default_factory=list)
    """Per round, the server's CPU use (share of one CPU) in the quiet and the attack phase."""

    def medians(self, phase_rounds: list[tuple[float, float, float]]) -> tuple[float, float, float]:
        """The median over rounds of p50, p90 and p99."""
        return (
            statistics.median(r[0] for r in phase_rounds),
            statistics.median(r[1] for r in phase_rounds),
            statistics.median(r[2] for r in phase_rounds),
        )


def connected_clients(relay: KillableRelay) -> int:
    """The server's open websocket connections (its `/metrics`)."""
    return _clients_in(httpx.get(relay.url + "/metrics", timeout=5).text)


async def clients_now(relay: KillableRelay) -> int:
    """`connected_clients` without blocking the probes' loop."""
    async with httpx.AsyncClient(timeout=5) as client:
        return _clients_in((await client.get(relay.url + "/metrics")).text)


def _clients_in(metrics: str) -> int:
    for line in metrics.splitlines():
        if line.startswith("veo_connected_clients "):
            return int(float(line.split()[1]))
    raise RuntimeError("/metrics has no veo_connected_clients")


def settle(relay: KillableRelay, timeout: float = 30.0) -> None:
    """Wait until the previous attack's connections are all gone from the server, then `SETTLE_SECONDS` more:
    a quiet phase must not measure the end of an attack (closing handshakes, aborts, freed buffers)."""
    deadline = time.monotonic() + timeout
    while connected_clients(relay) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(SETTLE_SECONDS)


def run_round(
    relay: KillableRelay,
    known: UUID,
    args: argparse.Namespace,
    kinds: set[str],
    where: Placement,
    tally: AttackTally,
) -> tuple[list[float], list[float], int, tuple[float, float]]:
    """A quiet phase, then an attack phase, with `where`'s placement; (quiet, attack, peak RSS KiB, server CPU).
    Each phase's round trips are appended to `--trace`'s file, if given."""
    assert relay.process is not None
    pid = relay.process.pid
    place(pid, where.server)
    place(os.getpid(), where.probe)
    settle(relay)
    traces: tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]] = ([], [])
    began = time.time()
    with RssSampler(relay):  # in both phases: its thread shares the probes' process (and GIL) alike
        quiet, quiet_cpu = busy(pid, lambda: asyncio.run(phase(relay, known, args.seconds, traces[0], args.probes)))
    spawn = multiprocessing.get_context("spawn")
    receiver, sender = spawn.Pipe(duplex=False)
    started = spawn.Event()
    ws_url = relay.url.replace("http", "ws", 1) + "/ws"
    attacker = spawn.Process(
        target=attack_process,
        args=(
            ws_url,
            relay.token,
            str(known),
            (args.fuzz, args.fuzz_rate),
            args.slow_readers,
            kinds,
            args.seconds,
            where.attackers,
            where.idle_attackers,
            started,
            sender,
        ),
    )
    with RssSampler(relay) as sampler:
        attack_began = time.time()
        hostile, attack_cpu = busy(
            pid, lambda: asyncio.run(phase(relay, known, args.seconds, traces[1], args.probes, attacker, started))
        )
    if receiver.poll(30):
        tally.add(receiver.recv())
    attacker.join(30)
    receiver.close()
    for name, at, trace in (("quiet", began, traces[0]), ("attack", attack_began, traces[1])):
        if args.trace is not None:
            record = {"placement": where.name, "phase": name, "began": at, "round_trips": trace}
            with args.trace.open("a") as out:
                out.write(json.dumps(record) + "\n")
    return quiet, hostile, sampler.peak, (quiet_cpu, attack_cpu)


def run_rounds(
    relay: KillableRelay,
    known: UUID,
    args: argparse.Namespace,
    kinds: set[str],
    runs: list[Rounds],
    tally: AttackTally,
) -> int:
    """Every round of every placement, each printed as it ends; the server's peak RSS (KiB) during the attacks."""
    peak = 0
    for number in range(1, args.rounds + 1):
        for run in runs:
            quiet, hostile, round_peak, cpu = run_round(relay, known, args, kinds, run.placement, tally)
            run.cpu.append(cpu)
            run.quiet.append(quantiles(quiet))
            run.attack.append(quantiles(hostile))
            run.samples.append((len(quiet), len(hostile)))
            run.pooled[0].extend(quiet)
            run.pooled[1].extend(hostile)
            peak = max(peak, round_peak)
            q, h = run.quiet[-1], run.attack[-1]
            print(
                f"round {number} {run.placement.name:8}: quiet p50/p90/p99 {q[0]:.2f}/{q[1]:.2f}/{q[2]:.2f} ms "
                f"({len(quiet)}), attack {h[0]:.2f}/{h[1]:.2f}/{h[2]:.2f} ms ({len(hostile)}), "
                f"server CPU {cpu[0]:.0%} / {cpu[1]:.0%}, load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return peak


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--fuzz", type=int, default=15_000, help="fuzzed messages per attack phase (15,000)")
    parser.add_argument(
        "--fuzz-rate",
        type=float,
        default=1000.0,
        help="fuzzed messages a second, all fuzzers together; 0: as fast as the server answers (1,000)",
    )
    parser.add_argument("--slow-readers", type=int, default=5, help="connections that never read (5)")
    parser.add_argument("--seconds", type=float, default=15.0, help="shortest phase, quiet or attack (15)")
    parser.add_argument(
        "--probes", type=int, default=4, help="well-behaved clients measured at once, each 40 requests a second (4)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="quiet/attack rounds per placement (3)")
    parser.add_argument(
        "--trace",
        type=Path,
        help="append each phase's round trips to this file as JSON lines: [seconds into the phase, ms, Unix time "
        "sent] each, with the phase's start (Unix time), to see where in a phase the slow ones fall",
    )
    parser.add_argument(
        "--placement", choices=("apart", "pinned", "unpinned", "all"), default="apart", help="CPU placement (apart)"
    )
    parser.add_argument("--seed-jobs", type=int, default=SEED_JOBS, help=f"history recorded first ({SEED_JOBS})")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for `veo serve` (repeatable), e.g. --serve-arg=--rate=20",
    )
    parser.add_argument(
        "--attackers",
        default=",".join(ATTACKERS),
        help=f"comma-separated subset of {', '.join(ATTACKERS)} (all), or none: the control, quiet against quiet; "
        "or load: no connection, a thread of the attackers' process busy half the time (the machine's share)",
    )
    args = parser.parse_args(argv)
    kinds = set() if args.attackers == "none" else {kind.strip() for kind in args.attackers.split(",") if kind.strip()}
    if not kinds and args.attackers != "none":
        parser.error("no attackers named (--attackers none runs the control)")
    if kinds - set(ATTACKERS) - set(CONTROLS):
        parser.error(f"unknown attackers {sorted(kinds - set(ATTACKERS) - set(CONTROLS))}")
    if kinds & set(CONTROLS) and len(kinds) > 1:  # its thread spins holding the GIL: the attackers would starve
        parser.error("--attackers load is a control: run it alone")
    where = placements(args.placement)
    every = os.sched_getaffinity(0)
    print(
        f"hostile-clients bench on {platform.node()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
        + (f"; veo serve {' '.join(args.serve_arg)}" if args.serve_arg else "")
    )
    runs = [Rounds(w) for w in where]
    tally = AttackTally()
    peak = 0
    with tempfile.TemporaryDirectory(prefix="veo-hostile-") as scratch:
        data = Path(scratch) / "relay"
        known = seed_finished(data, args.seed_jobs, SEED_PROMPT_CHARS, random.Random(1))
        relay = KillableRelay(data, free_port(), ["--simulator-times", "0.3,0.8", *args.serve_arg])
        try:
            relay.start()
            rss_start = relay.rss_kib()
            peak = run_rounds(relay, known, args, kinds, runs, tally)
            place(os.getpid(), every)
            time.sleep(2.0)
            rss_after = relay.rss_kib()
            health = httpx.get(relay.url + "/healthz", timeout=5).text.strip()
            code = relay.stop()
        finally:
            relay.close()
    report(args, kinds, runs, tally)
    print(
        f"server RSS: {rss_start / 1024:.0f} MiB before the first round, peak {peak / 1024:.0f} MiB during the "
        f"attacks, {rss_after / 1024:.0f} MiB 2 s after the last one"
    )
    print(f"server after the attacks: /healthz {health!r}, exit code {code} on SIGTERM")
    return 0 if health == "ok" and code == 0 else 1


def quantiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """p50, p90, p99 of round trips (seconds) in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[89] * 1000, cuts[98] * 1000


def pooled(quiet: list[float], attack: list[float]) -> str:
    """Quantiles of every quiet and every attack round trip (seconds), and their ratios."""
    pq, ph = quantiles(quiet), quantiles(attack)
    ratios = ", ".join(f"p{level} x{ph[i] / pq[i]:.2f}" for i, level in enumerate((50, 90, 99)))
    return (
        f"quiet {pq[0]:.2f}/{pq[1]:.2f}/{pq[2]:.2f} ms ({len(quiet)}), attack {ph[0]:.2f}/{ph[1]:.2f}/{ph[2]:.2f} ms "
        f"({len(attack)}): ratio {ratios}"
    )


def report(args: argparse.Namespace, kinds: set[str], runs: list[Rounds], tally: AttackTally) -> None:
    """The summary: per placement, medians over rounds and the attack/quiet ratio with its spread (information)."""
    named = ", ".join(sorted(kinds)) or "none (the control: both phases quiet)"
    print(
        f"\nattackers: {named}; {args.rounds} rounds of quiet and attack phases of at least "
        f"{args.seconds:g} s; store seeded with {args.seed_jobs} finished generations of "
        f"{SEED_PROMPT_CHARS}-character prompts"
    )
    print(f"{'placement':9} {'phase':7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  (medians over rounds)")
    for run in runs:
        q, h = run.medians(run.quiet), run.medians(run.attack)
        print(f"{run.placement.name:9} {'quiet':7} {q[0]:8.2f} {q[1]:8.2f} {q[2]:8.2f}")
        print(f"{'':9} {'attack':7} {h[0]:8.2f} {h[1]:8.2f} {h[2]:8.2f}")
        spread = [
            f"{min(a[i] / b[i] for a, b in zip(run.attack, run.quiet, strict=True)):.2f}-"
            f"{max(a[i] / b[i] for a, b in zip(run.attack, run.quiet, strict=True)):.2f}"
            for i in range(3)
        ]
        print(
            f"{'':9} ratio   p50 x{h[0] / q[0]:.2f}, p90 x{h[1] / q[1]:.2f}, p99 x{h[2] / q[2]:.2f} "
            f"(per-round ranges {', '.join(spread)}) -- {run.placement.describe()}"
        )
        print(f"{'':9} pooled  {pooled(*run.pooled)} (every round trip of every round together)")
        quiet_cpu = statistics.median(c[0] for c in run.cpu)
        attack_cpu = statistics.median(c[1] for c in run.cpu)
        print(
            f"{'':9} server CPU (share of one CPU, median over rounds): quiet {quiet_cpu:.0%}, attack {attack_cpu:.0%}"
        )
    print(
        f"attackers in all: {tally.fuzz_sent:,} fuzzed frames over {tally.fuzz_connections} connections "
        f"({tally.fuzz_sent / max(tally.fuzz_seconds, 1e-9):,.0f} a second while fuzzing), "
        f"{tally.flood_sent:,} flood frames, {tally.oversize_sent} oversize frames, "
        f"{sum(tally.unauthenticated.values())} unauthenticated upgrades {dict(tally.unauthenticated)}, "
        f"{tally.slow_readers} slow readers"
    )
    print(f"  fuzzed frames' replies {dict(tally.fuzz_replies)}")
    print(f"  other attackers' error replies {dict(tally.error_replies)}; close codes {dict(tally.closes)}")


if __name__ == "__main__":
    sys.exit(main())
