"""The fan-out bench's client process: websocket clients as users write them, each parsing every frame.

Each client is the standard `websockets` asyncio client, subscribed to every channel, decoding every
frame with `json` and reading each delta's position and `updated_at`. The process keeps, per delta read,
the reading client, the position and the latency (read instant minus `updated_at`, the instant the event
was recorded; the machine's one clock serves both). It reports when its clients are connected, then on
("drain", (low, high)) waits until every open client has read a position >= high and sends back its figures
for the positions in (low, high], the measured window.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["CHANNELS", "ClientReport", "client_process"]

CHANNELS = ["generation:status", "upscale:status", "batch:progress"]
CONNECT_AT_ONCE = 50
DRAIN_TIMEOUT = 60.0


@dataclass
class ClientReport:
    """What one client process sends back."""

    connected: int
    failed_to_connect: int
    connect_seconds: float
    clients: array[int] = field(default_factory=lambda: array("i"))
    positions: array[int] = field(default_factory=lambda: array("q"))
    latencies: array[float] = field(default_factory=lambda: array("d"))
    keys: set[tuple[str, int]] = field(default_factory=set)
    """Every (channel, position) read by any client of the process."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Connections the server closed while the bench still read them, by close code."""
    dropped_clients: set[int] = field(default_factory=set)
    out_of_order: int = 0
    frames: int = 0
    all_deltas: int = 0
    """Deltas read in all frames (`frames` of them), whether in the window or not."""
    lagging: int = 0
    """Clients still open that had not read the last measured position when the drain timed out."""
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    """From the clients being connected to the end of the drain."""


class Reader:
    """The figures every client of the process adds to as it reads."""

    def __init__(self, report: ClientReport) -> None:
        self.report = report
        self.last: dict[int, int] = {}
        self.stamps: dict[str, float] = {}
        self.stopping = False
        self.tasks: set[asyncio.Task[None]] = set()

    def take(self, client: int, message: str | bytes, now: float) -> None:
        """One frame read by `client` at `now`."""
        frame = json.loads(message)
        kind = frame.get("type")
        if kind == "delta":
            deltas = [frame]
        elif kind == "deltas":
            deltas = frame["deltas"]
        else:
            return
        report = self.report
        report.frames += 1
        report.all_deltas += len(deltas)
        for delta in deltas:
            position = delta["position"]
            if position < self.last.get(client, 0):
                report.out_of_order += 1
            self.last[client] = position
            report.clients.append(client)
            report.positions.append(position)
            report.latencies.append(now - self._instant(delta["data"]["updated_at"]))
            report.keys.add((delta["channel"], position))

    def _instant(self, stamp: str) -> float:
        """`updated_at` as epoch seconds (the same stamp reaches every client: converted once)."""
        instant = self.stamps.get(stamp)
        if instant is None:
            if len(self.stamps) > 100_000:
                self.stamps.clear()
            instant = self.stamps[stamp] = datetime.fromisoformat(stamp).timestamp()
        return instant

    def behind(self, clients: dict[int, ClientConnection], high: int) -> int:
        """How many open clients have not read position `high` yet."""
        return sum(1 for index in clients if self.last.get(index, 0) < high)


async def _client(url: str, token: str, index: int, reader: Reader, clients: dict[int, ClientConnection]) -> None:
    """Connect, subscribe to every channel, then read until closed."""
    ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"}, proxy=None, open_timeout=120)
    await ws.send(json.dumps({"type": "subscribe", "id": "s", "channels": CHANNELS}))
    reply = json.loads(await ws.recv())
    if reply.get("type") != "result":
        await ws.close()
        raise ConnectionError(f"subscribe refused: {reply}")
    clients[index] = ws
    task = asyncio.get_running_loop().create_task(_read(ws, index, reader, clients))
    reader.tasks.add(task)
    task.add_done_callback(reader.tasks.discard)


async def _read(ws: ClientConnection, index: int, reader: Reader, clients: dict[int, ClientConnection]) -> None:
    try:
        async for message in ws:
            reader.take(index, message, time.time())
    except ConnectionClosed:
        pass
    clients.pop(index, None)
    if not reader.stopping:
        code = str(ws.close_code) if ws.close_code is not None else "aborted"
        reader.report.dropped[code] = reader.report.dropped.get(code, 0) + 1
        reader.report.dropped_clients.add(index)


async def _run(url: str, token: str, first: int, count: int, pipe: Connection) -> ClientReport:
    loop = asyncio.get_running_loop()
    report = ClientReport(connected=0, failed_to_connect=0, connect_seconds=0.0)
    reader = Reader(report)
    clients: dict[int, ClientConnection] = {}
    began = time.perf_counter()
    for start in range(first, first + count, CONNECT_AT_ONCE):
        wave = range(start, min(first + count, start + CONNECT_AT_ONCE))
        outcomes = await asyncio.gather(
            *(_client(url, token, i, reader, clients) for i in wave), return_exceptions=True
        )
        report.failed_to_connect += sum(1 for outcome in outcomes if isinstance(outcome, BaseException))
    report.connect_seconds = time.perf_counter() - began
    report.connected = len(clients)
    pipe.send(("ready", report.connected))
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    command, (low, high) = await loop.run_in_executor(None, pipe.recv)
    assert command == "drain"
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while reader.behind(clients, high) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    report.lagging = reader.behind(clients, high)
    report.cpu_seconds = time.process_time() - cpu_before
    report.wall_seconds = time.perf_counter() - wall_before
    reader.stopping = True
    await asyncio.gather(*(ws.close() for ws in list(clients.values())), return_exceptions=True)
    return _window(report, low, high)


def _window(report: ClientReport, low: int, high: int) -> ClientReport:
    """`report` with only the deltas of positions in (low, high]."""
    inside = [i for i, position in enumerate(report.positions) if low < position <= high]
    report.clients = array("i", (report.clients[i] for i in inside))
    report.positions = array("q", (report.positions[i] for i in inside))
    report.latencies = array("d", (report.latencies[i] for i in inside))
    report.keys = {key for key in report.keys if low < key[1] <= high}
    return report


def client_process(url: str, token: str, first: int, count: int, pipe: Connection) -> None:
    """Entry point: clients numbered first .. first + count - 1."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, count + 100), hard), hard))
    report = asyncio.run(_run(url, token, first, count, pipe))
    pipe.send(("report", report))
