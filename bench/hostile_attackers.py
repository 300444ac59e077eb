"""The hostile bench's attackers, run in a process of their own: fuzzers, flooders, oversize frames,
unauthenticated upgrades and slow readers (bench/hostile.py says what each does and why)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from veo_protocol import Channel

__all__ = ["ATTACKERS", "CONTROLS", "AttackTally", "attack_process", "place"]


PER_CONNECTION = 150
READ_ONLY_TYPES = (
    "subscribe",
    "unsubscribe",
    "get_status",
    "get_statuses",
    "get_history",
    "get_batch",
    "get_analytics",
    "queue_status",
    "refresh",
    "cancel",
    "retry",
    "provide_captcha_token",
    "provide_session",
)
CHANNELS = [str(channel) for channel in Channel]
ATTACKERS = ("fuzz", "flood", "oversize", "unauth", "slow")
CONTROLS = ("load",)
"""Pseudo-attackers that never connect, for `--attackers`: what the machine alone does to the probe."""
LOAD_DUTY_MS = (2.0, 2.0)
"""`load`: busy for the first, asleep for the second (ms), over and over: about half a CPU, as the attackers use."""


def place(pid: int, cpus: set[int]) -> None:
    """Pin every thread of process `pid` to `cpus` (threads started later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            os.sched_setaffinity(int(task.name), cpus)


def _junk(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 3 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.randint(-(2**70), 2**70)
    if pick == 3:
        return rng.uniform(-1e300, 1e300)
    if pick == 4:
        return "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 30)))
    if pick == 5:
        return str(uuid4())
    if pick == 6:
        return "x" * rng.randint(1_000, 60_000)
    if pick == 7:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng): _junk(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _text(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + "_-", k=rng.randint(0, 12)))


def fuzzed_frame(rng: random.Random, known: str) -> str | bytes:
    """One hostile frame: a mutated read-only request, junk JSON, truncated JSON, deep nesting or binary."""
    pick = rng.randrange(10)
    if pick == 0:
        return json.dumps(_junk(rng))
    if pick == 1:
        depth = rng.randint(100, 50_000)
        return "[" * depth + "]" * depth
    if pick == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    message: dict[str, Any] = {"type": rng.choice(READ_ONLY_TYPES), "id": _text(rng) or "x"}
    fields = {
        "generation_id": rng.choice([known, str(uuid4()), "not-a-uuid"]),
        "generation_ids": [known] * rng.randint(0, 3),
        "channels": rng.sample(CHANNELS, rng.randint(0, 3)),
        "limit": rng.randint(-5, 600),
        "batch_id": str(uuid4()),
        "request_id": _text(rng),
        "token": _text(rng),
        "window": rng.choice(["all", "1h", "1d"]),
    }
    for name in rng.sample(sorted(fields), rng.randint(0, 4)):
        message[name] = fields[name]
    for _ in range(rng.randint(0, 3)):
        match rng.randrange(4):
            case 0 if message:
                message.pop(rng.choice(sorted(message)))
            case 2 if message:
                message[rng.choice(sorted(message))] = _junk(rng)
            case 3:
                message["type"] = rng.choice([_text(rng), "generate ", "GET_STATUS", ""])
            case _:
                message[_text(rng)] = _junk(rng)
    text = json.dumps(message)
    if pick == 3:
        return text[: rng.randint(0, len(text))]
    if pick == 4:
        return text.encode()
    return text


@dataclass
class AttackTally:
    """What the attackers sent and got back."""

    fuzz_sent: int = 0
    fuzz_seconds: float = 0.0
    fuzz_connections: int = 0
    fuzz_replies: Counter[str] = field(default_factory=Counter)
    error_replies: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    flood_sent: int = 0
    oversize_sent: int = 0
    unauthenticated: Counter[str] = field(default_factory=Counter)
    slow_readers: int = 0

    def add(self, other: AttackTally) -> None:
        """Count another attack's tally in."""
        self.fuzz_sent += other.fuzz_sent
        self.fuzz_seconds += other.fuzz_seconds
        self.fuzz_connections += other.fuzz_connections
        self.fuzz_replies += other.fuzz_replies
        self.error_replies += other.error_replies
        self.closes += other.closes
        self.flood_sent += other.flood_sent
        self.oversize_sent += other.oversize_sent
        self.unauthenticated += other.unauthenticated
        self.slow_readers += other.slow_readers


async def _drain(ws: ClientConnection, tally: AttackTally) -> None:
    try:
        async for raw in ws:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") == "error":
                tally.error_replies[str(message.get("code"))] += 1
    except ConnectionClosed:
        pass
    code = ws.close_code
    tally.closes[str(code) if code is not None else "aborted"] += 1


async def _open(ws_url: str, token: str | None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await connect(
        ws_url,
        additional_headers=headers,
        proxy=None,
        compression=None,
        max_size=None,
        open_timeout=10,
    )


async def _open_or_pause(ws_url: str, token: str) -> ClientConnection | None:
    """A new authenticated connection, or None after a short pause when the server refused or timed out."""
    try:
        return await _open(ws_url, token)
    except (OSError, InvalidHandshake, TimeoutError):
        await asyncio.sleep(0.05)
        return None


class FuzzBudget:
    """The fuzzers' shared budget: `frames` frames, paced at `rate` a second overall (0: as fast as answered)."""

    def __init__(self, frames: int, rate: float) -> None:
        self.frames = frames
        self.rate = rate
        self.taken = 0
        self.began = time.monotonic()

    async def take(self) -> bool:
        """Wait for the next frame's turn; False once every frame is spoken for."""
        if self.taken >= self.frames:
            return False
        self.taken += 1
        if self.rate > 0:
            await asyncio.sleep(max(0.0, self.began + (self.taken - 1) / self.rate - time.monotonic()))
        return True


async def fuzzer(ws_url: str, token: str, known: str, budget: FuzzBudget, tally: AttackTally, seed: int) -> None:
    """Send fuzzed frames while the budget lasts, each once the previous one is answered, 150 per connection
    (under the flood limit, so the server decodes and answers every one of them)."""
    rng = random.Random(seed)
    more = await budget.take()
    while more:
        ws = await _open_or_pause(ws_url, token)
        if ws is None:
            continue
        tally.fuzz_connections += 1
        try:
            for _ in range(PER_CONNECTION):
                await ws.send(fuzzed_frame(rng, known))
                tally.fuzz_sent += 1
                tally.fuzz_replies[await _reply(ws)] += 1
                more = await budget.take()
                if not more:
                    break
        except ConnectionClosed:
            tally.closes[str(ws.close_code)] += 1
        await ws.close()


async def _reply(ws: ClientConnection) -> str:
    """The kind of the next reply (`result` or the error code), skipping deltas; `none` after 10 s."""
    try:
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "result":
                    return "result"
                if message.get("type") == "error":
                    return str(message.get("code"))
    except TimeoutError:
        return "none"


async def flooder(ws_url: str, token: str, stop: asyncio.Event, tally: AttackTally) -> None:
    """Valid requests as fast as the socket takes them, until closed (1008); then again."""
    while not stop.is_set():
        ws = await _open_or_pause(ws_url, token)
        if ws is None:
            continue
        reader = asyncio.create_task(_drain(ws, tally))
        try:
            index = 0
            while not stop.is_set():
                index += 1
                await ws.send(json.dumps({"type": "queue_status", "id": f"flood-{index}"}))
                tally.flood_sent += 1
                if index % 50 == 0:
                    await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        await ws.close()
        await reader


async def oversize(ws_url: str, token: str, stop: asyncio.Event, tally: AttackTally) -> None:
    """A frame one byte over 1 MiB every 250 ms (each closes its connection with 1009)."""
    frame = json.dumps({"type": "get_status", "id": "big", "generation_id": "x" * (1 << 20)})
    while not stop.is_set():
        ws = await _open_or_pause(ws_url, token)
        if ws is None:
            continue
        reader = asyncio.create_task(_drain(ws, tally))
        with contextlib.suppress(ConnectionClosed):
            await ws.send(frame)
            tally.oversize_sent += 1
        await reader
        await asyncio.sleep(0.25)


async def unauthenticated(ws_url: str, stop: asyncio.Event, tally: AttackTally) -> None:
    """Upgrades without a token or with a wrong one, 20 a second."""
    rng = random.Random(7)
    while not stop.is_set():
        try:
            ws = await _open(ws_url, rng.choice([None, "wrong-token"]))
            tally.unauthenticated["accepted!"] += 1
            await ws.close()
        except InvalidStatus as exc:
            tally.unauthenticated[str(exc.response.status_code)] += 1
        except (OSError, TimeoutError):
            tally.unauthenticated["failed"] += 1
        await asyncio.sleep(0.05)


async def slow_reader(ws_url: str, token: str, stop: asyncio.Event, tally: AttackTally) -> None:
    """Subscribe to every channel from position 0, then never read."""
    ws = await _open(ws_url, token)
    tally.slow_readers += 1
    await ws.send(json.dumps({"type": "subscribe", "id": "s", "channels": CHANNELS, "after": 0}))
    assert ws.transport is not None
    ws.transport.pause_reading()
    await stop.wait()
    ws.transport.abort()


def busy_half(seconds: float) -> None:
    """The `load` control: about half of the CPU it runs on, in 2 ms bursts, for `seconds`; no connection."""
    ends = time.monotonic() + seconds
    busy_s, idle_s = (ms / 1000 for ms in LOAD_DUTY_MS)
    while time.monotonic() < ends:
        burst = time.monotonic() + busy_s
        while time.monotonic() < burst:
            pass
        time.sleep(idle_s)


async def attack(
    ws_url: str, token: str, known: str, fuzz: tuple[int, float], slow: int, kinds: set[str], seconds: float
) -> AttackTally:
    """The chosen attackers at once for `seconds`, and on until the fuzzers have sent `fuzz` = (frames, rate)."""
    tally = AttackTally()
    ends = time.monotonic() + seconds
    stop = asyncio.Event()
    budget = FuzzBudget(*fuzz)
    background = []
    if "load" in kinds:
        background.append(asyncio.create_task(asyncio.to_thread(busy_half, seconds)))
    if "slow" in kinds:
        background += [asyncio.create_task(slow_reader(ws_url, token, stop, tally)) for _ in range(slow)]
    if "flood" in kinds:
        background += [asyncio.create_task(flooder(ws_url, token, stop, tally)) for _ in range(2)]
    if "oversize" in kinds:
        background += [asyncio.create_task(oversize(ws_url, token, stop, tally))]
    if "unauth" in kinds:
        background += [asyncio.create_task(unauthenticated(ws_url, stop, tally))]
    if "fuzz" in kinds:
        began = time.monotonic()
        await asyncio.gather(*(fuzzer(ws_url, token, known, budget, tally, seed) for seed in range(8)))
        tally.fuzz_seconds = time.monotonic() - began
    await asyncio.sleep(max(0.0, ends - time.monotonic()))
    stop.set()
    await asyncio.gather(*background)
    return tally


def attack_process(
    ws_url: str,
    token: str,
    known: str,
    fuzz: tuple[int, float],
    slow: int,
    kinds: set[str],
    seconds: float,
    cpus: set[int],
    idle: bool,
    started: Any,
    out: Any,
) -> None:
    """The attackers' process: move to `cpus` (at idle priority if `idle`), say it started, attack, send the tally."""
    place(os.getpid(), cpus)
    if idle:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    started.set()
    tally = asyncio.run(attack(ws_url, token, known, fuzz, slow, kinds, seconds))
    out.send(tally)
    out.close()
