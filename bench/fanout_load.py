"""The fan-out bench's load and its probe, each one websocket connection speaking the protocol.

The driver submits `generate` requests at an even rate and, subscribed to `generation:status`, counts the
deltas each generation makes until it ends, so the rate can be set in row changes per second. The probe,
another client, asks `get_status` of a recent generation again and again and times each round trip; its
results' `position` (the read model's) marks where the measured window begins and ends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["Driver", "Probe", "Session"]

TERMINAL = frozenset({"completed", "failed", "cancelled"})
PROBE_INTERVAL = 0.05


class Session:
    """One connection: requests matched to their results by id; other frames go to `on_frame`."""

    def __init__(self, ws: ClientConnection, on_frame: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.ws = ws
        self.on_frame = on_frame
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count()
        self.reading = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str, on_frame: Callable[[dict[str, Any]], None] | None = None) -> Session:
        """Connect with the token."""
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"}, proxy=None)
        return cls(ws, on_frame)

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send one request; its result (an error reply raises)."""
        ident = f"r{next(self.ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        await self.ws.send(json.dumps({"type": kind, "id": ident, **fields}))
        reply = await future
        if reply["type"] != "result":
            raise RuntimeError(f"{kind}: {reply}")
        return reply

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = json.loads(message)
                if frame["type"] in ("result", "error"):
                    future = self.pending.pop(frame.get("id") or "", None)
                    if future is not None and not future.done():  # done: its request was cancelled
                        future.set_result(frame)
                elif self.on_frame is not None:
                    self.on_frame(frame)
        except ConnectionClosed:
            pass
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the server closed the connection"))

    async def close(self) -> None:
        """Close the connection and stop reading."""
        await self.ws.close()
        await self.reading


class Driver:
    """Submits generations at `per_second`; learns how many row changes a generation makes."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self.session: Session | None = None
        self.counts: dict[str, int] = {}
        """Deltas made by each generation so far (on `generation:status`), those after it ended included (the
        relay's kept video changes a completed row once more)."""
        self.ended: list[str] = []
        """The generations that have ended, in the order they did."""
        self.ended_ids: set[str] = set()
        self.round_trips: list[float] = []
        self.latest = ""
        """The id of the generation submitted last."""
        self.submitted = 0
        self.refused = 0

    def deltas_per_generation(self) -> float | None:
        """The mean over the generations that have ended, None before enough have."""
        if len(self.ended) < 10:
            return None
        return sum(self.counts[row_id] for row_id in self.ended) / len(self.ended)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        deltas = frame["deltas"] if frame.get("type") == "deltas" else [frame] if frame.get("type") == "delta" else []
        for delta in deltas:
            if delta["channel"] != "generation:status":
                continue
            row = delta["data"]
            count = self.counts[row["id"]] = self.counts.get(row["id"], 0) + 1
            if row["status"] in TERMINAL and count > 1 and row["id"] not in self.ended_ids:
                self.ended_ids.add(row["id"])
                self.ended.append(row["id"])

    async def run(self, url: str, token: str) -> None:
        """Submit until cancelled; each `generate` is sent on schedule, its result awaited aside."""
        self.session = session = await Session.open(url, token, self._on_frame)
        await session.request("subscribe", channels=["generation:status"])
        waiting: set[asyncio.Task[None]] = set()
        next_at = time.monotonic()
        try:
            while True:
                next_at += 1.0 / self.per_second
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                task = asyncio.create_task(self._generate(session))
                waiting.add(task)
                task.add_done_callback(waiting.discard)
        finally:
            for task in waiting:
                task.cancel()
            await session.close()

    async def _generate(self, session: Session) -> None:
        began = time.perf_counter()
        self.submitted += 1
        try:
            reply = await session.request("generate", prompt=f"fan-out bench {self.submitted}", seed=self.submitted)
        except RuntimeError:  # an error reply (rate_limited, overloaded): counted, the load goes on
            self.refused += 1
            return
        self.round_trips.append(time.perf_counter() - began)
        self.latest = reply["data"]["generation_id"]


class Probe:
    """Another client: `get_status` of the driver's latest generation, one after another, timed."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.session: Session | None = None
        self.measuring = False
        self.round_trips: list[float] = []
        self.position = 0

    async def ask(self) -> int:
        """One `get_status`; the read model's position it reports."""
        assert self.session is not None
        began = time.perf_counter()
        reply = await self.session.request("get_status", generation_id=self.driver.latest)
        if self.measuring:
            self.round_trips.append(time.perf_counter() - began)
        self.position = int(reply["position"])
        return self.position

    async def run(self, url: str, token: str) -> None:
        """Ask every PROBE_INTERVAL until cancelled (once the driver has submitted something)."""
        self.session = await Session.open(url, token)
        try:
            while True:
                if self.driver.latest:
                    await self.ask()
                await asyncio.sleep(PROBE_INTERVAL)
        finally:
            await self.session.close()
