"""Delta fan-out: N websocket clients subscribed while status changes are recorded at R events a second.

The relay (System + RelayServer) runs in this process; the clients run in a separate process (one
asyncio loop holding every connection) so that reading does not compete with the server's event loop.
A driver thread records generation lifecycles (Requested, Submitted, Started, Progressed, Completed)
straight through the application at an even R events/s: each event changes one row, so each is one
delta on `generation:status` for every client.

Latency is from the event being recorded (the row's `updated_at`, millisecond precision, truncated, so
up to 1 ms pessimistic) to the delta being read by a client; the clients and the server share the
machine's clock. Memory per connection is the server's RSS growth while the clients connect and
subscribe, divided by their number. The baseline in the same run is the same load with 100 clients
(and 1 client, the floor set by store, projection and hub). Target: p99 <= 100 ms at 1,000 clients.
The figures depend on what else the machine runs: each scenario's summary gives the load average.

    .venv/bin/python bench/fanout.py [--clients 1000] [--baseline 100] [--rate 50] [--seconds 20] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import multiprocessing
import os
import platform
import pstats
import resource
import statistics
import tempfile
import time
from array import array
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.client import connect

from domain.requests import GenerationSpec
from server.bootstrap import Settings, System
from server.relay_server import RelayServer
from veo_simulator import SimulatorConfig

TOKEN = "fanout-bench-token"
ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"
PENDING = "MEDIA_GENERATION_STATUS_PENDING"
CONNECT_AT_ONCE = 50
EVENTS_PER_LIFECYCLE = 5


# --- the client process ---------------------------------------------------------------------------
# The clients speak the protocol with a minimal RFC 6455 client (one HTTP upgrade, then server frames
# parsed by hand) rather than `websockets`, whose per-frame cost would make 1,000 readers the bottleneck
# on a small machine and measure the client instead of the server. `--library-client` uses websockets.


class _Row(msgspec.Struct):
    updated_at: str = ""


class _Delta(msgspec.Struct):
    position: int
    data: _Row


class _Frame(msgspec.Struct):
    """What a client needs of a server frame: its type, and each delta's position and `updated_at`."""

    type: str
    position: int = 0
    data: msgspec.Raw = msgspec.Raw()
    deltas: list[_Delta] = []


_FRAME = msgspec.json.Decoder(_Frame)
_ROW = msgspec.json.Decoder(_Row)
SUBSCRIBE = b'{"type":"subscribe","id":"s","channels":["generation:status"]}'


@dataclass
class ClientReport:
    """What the client process sends back."""

    connected: int
    connect_seconds: float
    latencies: array[float]
    frames: int
    deltas: int
    out_of_order: int
    closed: int
    cpu_seconds: float
    wall_seconds: float


class Tally:
    """What every connection of the client process received inside the measured positions (low, high]."""

    def __init__(self) -> None:
        self.parsed: dict[bytes, list[tuple[int, float]]] = {}
        self.latencies: array[float] = array("d")
        self.frames = 0
        self.deltas = 0
        self.out_of_order = 0
        self.closed = 0
        self.low = 2**62
        self.high = 2**62
        self.last: dict[int, int] = {}

    def take(self, client: int, payload: bytes, now: float) -> None:
        """One text frame read by `client` at `now` (the same frame sent to many clients is parsed once)."""
        deltas = self.parsed.get(payload)
        if deltas is None:
            deltas = self._parse(payload)
            if len(self.parsed) > 50_000:
                self.parsed.clear()
            self.parsed[payload] = deltas
        if not deltas:
            return
        self.frames += 1
        for position, stamp in deltas:
            if position <= self.last.get(client, 0):
                self.out_of_order += 1
            self.last[client] = position
            if self.low < position <= self.high:
                self.deltas += 1
                self.latencies.append(now - stamp)

    @staticmethod
    def _parse(payload: bytes) -> list[tuple[int, float]]:
        frame = _FRAME.decode(payload)
        if frame.type == "deltas":
            pairs = [(d.position, d.data.updated_at) for d in frame.deltas]
        elif frame.type == "delta":
            pairs = [(frame.position, _ROW.decode(frame.data).updated_at)]
        else:
            return []
        return [(position, datetime.fromisoformat(at).timestamp()) for position, at in pairs]

    def caught_up(self, clients: int) -> bool:
        """Every open connection has read the last measured position."""
        return sum(1 for last in self.last.values() if last >= self.high) >= clients - self.closed


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask); only small payloads are sent."""
    mask = os.urandom(4)
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


class LeanClient(asyncio.Protocol):
    """A minimal websocket client: HTTP upgrade with the token, subscribe, then parse frames and answer pings."""

    def __init__(self, index: int, tally: Tally, host: str, path: str, ready: asyncio.Future[bool]) -> None:
        self.index = index
        self.tally = tally
        self.host = host
        self.path = path
        self.ready = ready
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self._fail()
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(_masked(0x1, SUBSCRIBE))
        self._frames(time.time())

    def _frames(self, now: float) -> None:
        buffer, offset, size = self.buffer, 0, len(self.buffer)
        while size - offset >= 2:
            opcode, length, header = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F, 2
            if length == 126:
                if size - offset < 4:
                    break
                length, header = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
            elif length == 127:
                if size - offset < 10:
                    break
                length, header = int.from_bytes(buffer[offset + 2 : offset + 10], "big"), 10
            if size - offset < header + length:
                break
            payload = bytes(buffer[offset + header : offset + header + length])
            offset += header + length
            if opcode == 0x1:
                if not self.ready.done():
                    self.ready.set_result(True)  # the subscribe result
                self.tally.take(self.index, payload, now)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(_masked(0xA, payload))
            elif opcode == 0x8:
                self._fail()
                return
        del buffer[:offset]

    def _fail(self) -> None:
        self.tally.closed += 1
        if not self.ready.done():
            self.ready.set_result(False)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)


async def _lean_client(url: str, index: int, tally: Tally) -> asyncio.Transport | None:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    transport, _ = await asyncio.get_running_loop().create_connection(
        lambda: LeanClient(index, tally, parts.netloc, parts.path, ready), parts.hostname, parts.port
    )
    return transport if await ready else None


async def _library_client(url: str, index: int, tally: Tally, subscribed: asyncio.Event) -> None:
    try:
        async with connect(
            url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, proxy=None, compression=None, max_size=None
        ) as ws:
            await ws.send(SUBSCRIBE, text=True)
            await ws.recv(decode=False)  # the subscribe result
            subscribed.set()
            while True:
                raw = await ws.recv(decode=False)
                tally.take(index, raw if isinstance(raw, bytes) else raw.encode(), time.time())
    except Exception:  # noqa: BLE001 - any failure is counted as a lost connection
        tally.closed += 1
        subscribed.set()


async def _connect_all(url: str, clients: int, tally: Tally, library: bool) -> list[Any]:
    """Open every connection, a wave at a time (the listen backlog is finite); the handles to keep."""
    handles: list[Any] = []
    for start in range(0, clients, CONNECT_AT_ONCE):
        wave = range(start, min(clients, start + CONNECT_AT_ONCE))
        if library:
            events = [asyncio.Event() for _ in wave]
            handles += [
                asyncio.create_task(_library_client(url, i, tally, e)) for i, e in zip(wave, events, strict=True)
            ]
            await asyncio.gather(*(e.wait() for e in events))
        else:
            handles += await asyncio.gather(*(_lean_client(url, i, tally) for i in wave))
    return handles


async def _run_clients(url: str, clients: int, library: bool, pipe: Connection) -> ClientReport:
    tally = Tally()
    started = time.perf_counter()
    handles = await _connect_all(url, clients, tally, library)
    connect_seconds = time.perf_counter() - started
    loop = asyncio.get_running_loop()
    pipe.send(("ready", clients - tally.closed))
    command, low = await loop.run_in_executor(None, pipe.recv)
    assert command == "measure"
    tally.low = low
    cpu0, wall0 = time.process_time(), time.perf_counter()
    command, high = await loop.run_in_executor(None, pipe.recv)
    assert command == "stop"
    tally.high = high
    deadline = time.monotonic() + 15.0
    while not tally.caught_up(clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    for handle in handles:
        if isinstance(handle, asyncio.Task):
            handle.cancel()
        elif handle is not None:
            handle.close()
    await asyncio.sleep(0.5)
    return ClientReport(
        connected=clients - tally.closed,
        connect_seconds=connect_seconds,
        latencies=tally.latencies,
        frames=tally.frames,
        deltas=tally.deltas,
        out_of_order=tally.out_of_order,
        closed=tally.closed,
        cpu_seconds=cpu,
        wall_seconds=wall,
    )


def client_process(url: str, clients: int, library: bool, pipe: Connection) -> None:
    """Entry point of the client process."""
    raise_fd_limit(clients + 100)
    report = asyncio.run(_run_clients(url, clients, library, pipe))
    pipe.send(("report", report))


# --- the server process ---------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> None:
    """Allow `needed` open files (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def rss_bytes() -> int:
    """This process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Driver:
    """Records generation lifecycles through the application at an even rate."""

    def __init__(self, system: System) -> None:
        self.app = system.app
        self.serial = 0

    def run(self, rate: float, seconds: float) -> tuple[int, int, int]:
        """Record events for `seconds`; (position before, last position, events recorded)."""
        app = self.app
        before = app.last_position()
        running: list[tuple[Any, int]] = []  # (generation id, events recorded so far)
        interval = 1.0 / rate
        started = time.monotonic()
        next_at = started
        count = 0
        while next_at < started + seconds:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._step(running)
            count += 1
            next_at += interval
        return before, app.last_position(), count

    def _step(self, running: list[tuple[Any, int]]) -> None:
        """One event: advance the oldest lifecycle, or start one when fewer than 10 are running."""
        app = self.app
        if len(running) < 10:
            self.serial += 1
            generation_id, _ = app.request_generation(GenerationSpec(prompt=f"fan-out {self.serial}", seed=1))
            running.append((generation_id, 1))
            return
        generation_id, done = running.pop(0)
        match done:
            case 1:
                app.record_submitted(generation_id)
            case 2:
                app.record_started(generation_id, f"op-{generation_id}", f"media-{generation_id}", PENDING)
            case 3:
                app.record_progress(generation_id, ACTIVE)
            case _:
                app.record_completed(generation_id, f"mg-{generation_id}", f"https://example.invalid/{generation_id}")
        if done + 1 < EVENTS_PER_LIFECYCLE:
            running.append((generation_id, done + 1))


@dataclass
class Outcome:
    """One scenario's figures."""

    clients: int
    connected: int
    events: int
    expected: int
    report: ClientReport
    pushes: int
    seconds: float
    rss_per_client: float
    rss_after_load: float
    server_cpu: float
    load: tuple[float, float]


async def scenario(
    server: RelayServer, driver: Driver, clients: int, rate: float, seconds: float, library: bool
) -> Outcome:
    """Connect `clients` in a child process, drive `rate` events/s for `seconds`, collect the figures."""
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    url = f"ws://127.0.0.1:{server.port}/ws"
    rss_before = rss_bytes()
    process = context.Process(target=client_process, args=(url, clients, library, theirs), daemon=True)
    process.start()
    kind, connected = await loop.run_in_executor(None, ours.recv)
    assert kind == "ready"
    await asyncio.sleep(1.0)  # let the server settle after the handshakes
    rss_connected = rss_bytes()
    pushes_before = server.hub.frames_sent
    cpu_before = time.process_time()
    load_before = os.getloadavg()[0]
    start = server.system.app.last_position()
    ours.send(("measure", start))
    began = time.perf_counter()
    _, high, events = await asyncio.to_thread(driver.run, rate, seconds)
    elapsed = time.perf_counter() - began
    ours.send(("stop", high))
    kind, report = await loop.run_in_executor(None, ours.recv)
    assert kind == "report"
    server_cpu = (time.process_time() - cpu_before) / elapsed
    rss_after = rss_bytes()
    await loop.run_in_executor(None, process.join, 30)
    while server.clients:  # the connections are gone before the next scenario
        await asyncio.sleep(0.05)
    return Outcome(
        clients=clients,
        connected=connected,
        events=events,
        expected=events * report.connected,
        report=report,
        pushes=server.hub.frames_sent - pushes_before,
        seconds=elapsed,
        rss_per_client=(rss_connected - rss_before) / max(connected, 1),
        rss_after_load=(rss_after - rss_before) / max(connected, 1),
        server_cpu=server_cpu,
        load=(load_before, os.getloadavg()[0]),
    )


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value at `fraction` of a sorted list (nearest rank)."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def print_table(outcomes: list[Outcome], rate: float) -> None:
    header = (
        f"{'clients':>7} {'events':>6} {'deliveries':>10} {'missing':>7} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'deltas/s':>9} {'frames/s':>9} {'KB/conn':>8} {'srv CPU':>7} {'cli CPU':>7}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        values = sorted(o.report.latencies)
        ms = [1000 * percentile(values, f) for f in (0.5, 0.9, 0.99)] + [1000 * (values[-1] if values else 0)]
        print(
            f"{o.clients:>7,} {o.events:>6,} {o.report.deltas:>10,} {o.expected - o.report.deltas:>7,} "
            f"{ms[0]:>7.1f} {ms[1]:>7.1f} {ms[2]:>7.1f} {ms[3]:>7.1f} "
            f"{o.report.deltas / o.seconds:>9,.0f} {o.report.frames / o.seconds:>9,.0f} "
            f"{o.rss_per_client / 1024:>8.1f} {o.server_cpu:>7.0%} "
            f"{o.report.cpu_seconds / max(o.report.wall_seconds, 1e-9):>7.0%}"
        )
    print()
    for o in outcomes:
        mean = 1000 * statistics.fmean(o.report.latencies) if o.report.latencies else float("nan")
        print(
            f"{o.clients:,} clients: {o.connected:,} connected in {o.report.connect_seconds:.1f} s, "
            f"{o.report.closed} lost, {o.report.out_of_order} out of order, mean {mean:.1f} ms, "
            f"hub pushes {o.pushes:,}, RSS growth after the load {o.rss_after_load / 1024:.1f} KB/conn, "
            f"machine load average {o.load[0]:.1f} -> {o.load[1]:.1f}"
        )
    target = outcomes[-1]
    p99 = 1000 * percentile(sorted(target.report.latencies), 0.99)
    verdict = "meets" if p99 <= 100 and target.expected == target.report.deltas else "MISSES"
    print(f"target p99 <= 100 ms at {target.clients:,} clients and {rate:g} changes/s: {verdict} ({p99:.1f} ms)")


async def run(args: argparse.Namespace, system: System) -> list[Outcome]:
    server = RelayServer(system, port=0, token=TOKEN)
    await server.start()
    try:
        driver = Driver(system)
        await asyncio.to_thread(driver.run, args.rate, 2.0)  # warm up the store, projection and hub
        outcomes = []
        for clients in (1, args.baseline, args.clients):
            profile = cProfile.Profile() if args.profile and clients == args.clients else None
            with profile or contextlib.nullcontext():  # the event loop's thread only: the hub and the writes
                outcomes.append(await scenario(server, driver, clients, args.rate, args.seconds, args.library_client))
            if profile is not None:
                profile.dump_stats(args.profile)
                pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        return outcomes
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000, help="connected clients in the target scenario")
    parser.add_argument("--baseline", type=int, default=100, help="connected clients in the baseline")
    parser.add_argument("--rate", type=float, default=50.0, help="status changes recorded per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each scenario records")
    parser.add_argument("--library-client", action="store_true", help="clients use websockets, not the lean client")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the server's event loop in the last scenario")
    args = parser.parse_args()
    raise_fd_limit(args.clients + 200)
    with tempfile.TemporaryDirectory() as tmp:
        system = System(Settings(data_dir=Path(tmp), port=0, simulator=SimulatorConfig(seed=1)))
        system.start()
        try:
            outcomes = asyncio.run(run(args, system))
        finally:
            system.stop()
    print(f"machine: {platform.machine()}, {multiprocessing.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load: {args.rate:g} status changes/s for {args.seconds:g} s per scenario, one generation:status delta each")
    kind = "websockets" if args.library_client else "lean RFC 6455"
    print(f"clients: {kind}, in a separate process (one asyncio loop); latency = delta read - event recorded")
    print()
    print_table(outcomes, args.rate)


if __name__ == "__main__":
    main()
