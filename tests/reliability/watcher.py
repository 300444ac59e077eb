"""A websocket client that follows every channel across relay deaths, resuming from its last position.

It keeps every delta it receives, in order, so a run can compare them with the delta journal: the
promise is that a client which reconnects with `after` = the last position it saw receives every delta
exactly once, however often the relay dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from veo_client.relay_client import RelayClient, RelayUnavailable
from veo_protocol import Channel

__all__ = ["ALL_CHANNELS", "DeltaWatcher", "Received"]

logger = logging.getLogger(__name__)

ALL_CHANNELS = [str(channel) for channel in Channel]
RETRY_S = 0.05


@dataclass(frozen=True)
class Received:
    """One delta as the client received it."""

    position: int
    channel: str
    data: Any


@dataclass
class DeltaWatcher:
    """Follows `url` until `stop()`; reconnects (resuming after its last position) whenever it loses the relay."""

    url: str
    token: str
    after: int = 0
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    not_resumed: int = 0
    """Subscriptions the server could not resume (the journal no longer held `after`): must stay 0."""
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @property
    def last_position(self) -> int:
        """The position of the last delta received (or where it started)."""
        return self.received[-1].position if self.received else self.after

    def start(self) -> None:
        """Begin following in a task of the running loop."""
        self._task = asyncio.create_task(self._follow(), name="delta-watcher")

    async def stop(self) -> None:
        """Stop following."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reached(self, position: int, timeout: float) -> None:
        """Wait until a delta at `position` or later was received (AssertionError after `timeout`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.last_position < position:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the watcher reached {self.last_position}, not {position}, in {timeout} s")
            await asyncio.sleep(0.02)

    async def _follow(self) -> None:
        while not self._stopping.is_set():
            try:
                async with RelayClient(self.url, self.token, open_timeout=2.0, request_timeout=10.0) as client:
                    subscribed = await client.subscribe(ALL_CHANNELS, after=self.last_position)
                    self.connections += 1
                    if not subscribed.resumed:
                        self.not_resumed += 1
                        logger.error("resume after %d refused", self.last_position)
                    async for delta in client.deltas():
                        self.received.append(Received(delta.position, delta.channel, delta.data))
            except RelayUnavailable:
                pass
            await asyncio.sleep(RETRY_S)
