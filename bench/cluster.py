"""A cluster under load: N `veo serve` nodes on one PostgreSQL store, websocket clients spread across them,
a batch through the budget, and the leading node killed (SIGKILL) mid-batch.

Flow is a `veo simulator` process shared by the nodes. The batch is asked of a node that does not lead
(so it is forwarded through the store). Printed: the budget as Flow saw it (most calls in any 1-second
window, 429s, scenes sent twice), the delta latency per node (p50/p99, from the row's `updated_at`, the
instant its event was recorded, to a client reading it; clients and servers share the clock), the
failover time (kill to another node leading, i.e. past its takeover grace), and whether every client got
every delta exactly once (clients of the killed node reconnect to the next node with `after`).

    .venv/bin/python bench/cluster.py [--store postgresql://.../empty_db] [--nodes 3] [--clients 1000]
        [--jobs 500] [--kill-after 20] [--client-processes 2]

Without --store a throwaway PostgreSQL cluster is started (as tests/postgres.py does).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the process and cluster helpers live in tests/

from projections.history import HistoryView
from server.store import locate
from tests.postgres import PostgresCluster, find_binaries
from tests.reliability.processes import KillableRelay, free_port, simulator_process

CHANNELS = ["generation:status", "batch:progress"]
TOKEN = "cluster-bench-token"
CONNECT_AT_ONCE = 50


class _Delta(msgspec.Struct):
    position: int
    channel: str
    data: dict[str, Any]


class _Frame(msgspec.Struct):
    type: str
    id: str | None = None
    position: int | None = None
    data: Any = None
    deltas: list[_Delta] | None = None
    channel: str | None = None


_DECODE = msgspec.json.Decoder(_Frame).decode


def _deltas(frame: _Frame) -> list[_Delta]:
    """The deltas of a `delta` or `deltas` frame (none for other frames)."""
    if frame.type == "deltas" and frame.deltas is not None:
        return frame.deltas
    if frame.type == "delta" and frame.position is not None and frame.channel is not None:
        return [_Delta(frame.position, frame.channel, frame.data)]
    return []


def _epoch(row_time: str) -> float:
    return datetime.fromisoformat(row_time).timestamp()


@dataclass
class ClientReport:
    """What one client process saw, per node it read from."""

    latencies: dict[int, list[float]] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)
    disorder: int = 0
    reconnects: int = 0
    not_resumed: int = 0


async def _subscribe(ws: ClientConnection, after: int | None) -> dict[str, Any]:
    request: dict[str, Any] = {"type": "subscribe", "id": "s", "channels": CHANNELS}
    if after is not None:
        request["after"] = after
    await ws.send(msgspec.json.encode(request).decode())
    while True:
        frame = _DECODE(await ws.recv())
        if frame.type == "result" and frame.id == "s":
            data: dict[str, Any] = frame.data
            return data


async def _client(
    urls: list[str], first: int, token: str, ready: asyncio.Event, done: asyncio.Event, report: ClientReport
) -> None:
    node = first
    last: tuple[int, int] | None = None
    count = 0
    headers = {"Authorization": f"Bearer {token}"}
    while not done.is_set():
        try:
            async with connect(urls[node], additional_headers=headers, compression=None, max_size=None) as ws:
                answer = await _subscribe(ws, last[0] if last is not None else None)
                if last is not None and not answer["resumed"]:
                    report.not_resumed += 1
                ready.set()
                samples = report.latencies.setdefault(node, [])
                while not done.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    now = time.time()
                    frame = _DECODE(raw)
                    deltas = _deltas(frame)
                    for delta in deltas:
                        key = (delta.position, 1 if delta.channel == "batch:progress" else 0)  # journal order
                        if last is not None and key <= last:
                            report.disorder += 1
                        last = key
                        count += 1
                        samples.append(now - _epoch(delta.data["updated_at"]))
        except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError):
            if done.is_set():
                break
            report.reconnects += 1
            node = (node + 1) % len(urls)
            await asyncio.sleep(0.2)
    report.counts.append(count)


async def _clients(urls: list[str], token: str, indexes: list[int], pipe: Connection) -> None:
    report = ClientReport()
    done = asyncio.Event()
    tasks = []
    for start in range(0, len(indexes), CONNECT_AT_ONCE):
        readies = []
        for index in indexes[start : start + CONNECT_AT_ONCE]:
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(_client(urls, index % len(urls), token, ready, done, report)))
        await asyncio.gather(*(r.wait() for r in readies))
    pipe.send("subscribed")
    await asyncio.to_thread(pipe.recv)  # "stop"
    await asyncio.sleep(2.0)  # the last deltas in flight
    done.set()
    await asyncio.gather(*tasks)
    pipe.send(msgspec.msgpack.encode(report.__dict__))


def _client_process(urls: list[str], token: str, indexes: list[int], pipe: Connection) -> None:
    asyncio.run(_clients(urls, token, indexes, pipe))


def _leader(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT node FROM veo_leader WHERE elected IS NOT NULL").fetchone()
    return str(row[0]) if row else None


async def _run_batch(url: str, token: str, jobs: int) -> tuple[float, int]:
    """Ask a follower for the batch; wait for it to finish; (seconds, start position)."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:
        start = (await _subscribe(ws, None))["position"]
        began = time.monotonic()
        request = {"type": "batch_generate", "id": "b", "prompts": [f"scene {i}" for i in range(jobs)], "delay_ms": 0}
        await ws.send(msgspec.json.encode(request).decode())
        while True:
            frame = _DECODE(await ws.recv())
            deltas = _deltas(frame)
            for delta in deltas:
                if delta.channel == "batch:progress" and delta.data["completed"] + delta.data["failed"] == jobs:
                    return time.monotonic() - began, int(start)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=None, help="an empty postgresql://... database (default: a throwaway one)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--kill-after", type=float, default=20.0, help="seconds into the batch (0: no kill)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--sim-times", default="5,15", help="LO,HI seconds a simulated video takes")
    args = parser.parse_args()
    lo, hi = (float(x) for x in args.sim_times.split(","))
    throwaway: PostgresCluster | None = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = args.store
        if store is None:
            bin_dir = find_binaries()
            if bin_dir is None:
                parser.error("no PostgreSQL binaries: pass --store or apt-get install postgresql")
            throwaway = PostgresCluster.create(bin_dir)
            store = throwaway.url(throwaway.create_database())
        try:
            with simulator_process(work / "sim", lo=lo, hi=hi, seed=1) as simulator:
                flags = ["--store", store, "--flow-url", simulator.url, "--labs-url", simulator.url, "--token", TOKEN]
                # no kept videos: the keeper's events after each Completed would reach the journal after the batch
                # finished and the clients stopped, and the clients' deltas are compared with the journal
                flags += ["--keep-videos", "no"]
                nodes = [KillableRelay(work / f"node{i}", free_port(), flags) for i in range(args.nodes)]
                token = TOKEN
                try:
                    for node in nodes:
                        node.start()
                    urls = [node.url.replace("http", "ws", 1) + "/ws" for node in nodes]
                    leading = _leader(store) or ""
                    leader = next(i for i, node in enumerate(nodes) if leading.endswith(f":{node.port}"))
                    follower = (leader + 1) % len(nodes)
                    pipes, processes = [], []
                    shares = [
                        list(range(args.clients))[p :: args.client_processes] for p in range(args.client_processes)
                    ]
                    for share in shares:
                        mine, theirs = multiprocessing.Pipe()
                        process = multiprocessing.Process(target=_client_process, args=(urls, token, share, theirs))
                        process.start()
                        pipes.append(mine)
                        processes.append(process)
                    for pipe in pipes:
                        assert pipe.recv() == "subscribed"
                    print(f"{args.clients} clients subscribed across {len(nodes)} nodes; node {leader} leads")
                    killed_at: float | None = None
                    failover: float | None = None

                    async def batch_with_a_kill() -> tuple[float, int]:
                        nonlocal killed_at, failover
                        batch = asyncio.create_task(_run_batch(urls[follower], token, args.jobs))
                        if args.kill_after > 0:
                            await asyncio.sleep(args.kill_after)
                            nodes[leader].kill()
                            killed_at = time.monotonic()
                            while not (now := await asyncio.to_thread(_leader, store)) or now.endswith(
                                f":{nodes[leader].port}"
                            ):
                                await asyncio.sleep(0.05)
                            failover = time.monotonic() - killed_at
                        return await batch

                    seconds, start = asyncio.run(batch_with_a_kill())
                    for pipe in pipes:
                        pipe.send("stop")
                    reports = [msgspec.msgpack.decode(pipe.recv()) for pipe in pipes]
                    for process in processes:
                        process.join()
                    audit = simulator.audit()
                    db = locate(work, store).open_read_model()
                    try:
                        expected = len(HistoryView().deltas_after(db.reader(), start, 10_000_000))
                    finally:
                        db.close()
                finally:
                    for node in nodes:
                        node.close()
        finally:
            if throwaway is not None:
                throwaway.stop()
    latencies: dict[int, list[float]] = {}
    for report in reports:
        for node_index, values in report["latencies"].items():
            latencies.setdefault(int(node_index), []).extend(values)
    counts = [c for report in reports for c in report["counts"]]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"batch of {args.jobs} jobs finished in {seconds:.1f} s")
    print(
        f"budget as Flow saw it: max {audit['max_in_any_1s_window']} calls in any 1 s window (R = 10), "
        f"{audit['throttled_429']} x 429, scenes sent twice: {len(audit['duplicate_scene_ids'])}"
    )
    if failover is not None:
        print(
            f"failover: the leader (node {leader}) killed {args.kill_after:.0f} s into the batch; "
            f"another node led after {failover:.2f} s"
        )
    for node_index in sorted(latencies):
        values = latencies[node_index]
        print(
            f"node {node_index}: {len(values):,} deltas read, latency p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p99 {_percentile(values, 99) * 1000:.0f} ms"
        )
    complete = sum(1 for c in counts if c == expected)
    if complete < len(counts):
        print(f"(deltas per client: {sorted(set(counts))})")
    print(
        f"exactly once: {complete}/{len(counts)} clients got all {expected} deltas; out of order or doubled: "
        f"{sum(r['disorder'] for r in reports)}; reconnects {sum(r['reconnects'] for r in reports)}, "
        f"not resumed {sum(r['not_resumed'] for r in reports)}"
    )


if __name__ == "__main__":
    main()
