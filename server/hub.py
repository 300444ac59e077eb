"""The delta hub: follows the projection's delta journal and fans each delta out to subscribed clients.

Live and resumed delivery share one source, the journal, so they cannot disagree. The hub runs on the event loop;
the projection runner wakes it after each commit (`wake_threadsafe`). A client subscribing `after: P` is fed from
the journal until it reaches the hub's own position and only then joins the live set; both steps happen on the loop
with no await in between, so the switch-over skips and doubles nothing. Each delta is encoded once; each page is
bundled once per distinct channel set, and that message is written with websockets' `broadcast` to every client
with that set that is caught up (`Client.caught_up`), fifty connections a turn of the loop, and queued for the
others (`Client.push`; a client that falls behind gets its queued bundles coalesced). A resuming client is replayed
the same way: a page read from the journal is decoded, encoded and bundled once and kept for a few pages, so clients
resuming from the same position share the work, and the client is handed one bundle at a time, the next only once
the last was sent (`Client.writable`): one that does not read holds at most one bundle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from websockets.asyncio.server import ServerConnection, broadcast

from projections.history import Delta
from server.client import COALESCE_WINDOW, FULL_FRAME_BYTES, MAX_COALESCED_BYTES, Bundle, Client
from server.coalesce import retrieved
from veo_protocol import CLOSE_TOO_FAR_BEHIND, encode_delta

__all__ = ["DeltaHub", "JournalReader", "SubscribeOutcome", "bundle_page"]

logger = logging.getLogger(__name__)

PAGE = 256
"""Deltas read from the journal at a time. A page is pushed to every live client with no await in between,
so it must stay well under a client's queue limit (16 MiB) even when every row is as large as rows get
(a 10,000-character prompt at up to 4 bytes a character: about 40 KB)."""
REPLAY_PACE_TIMEOUT = 10.0
"""How long a resuming client's replay waits at a time for the client to read a bundle (it then checks the
connection is still there and goes on waiting: a resuming client goes at its own pace)."""
REACH_TIMEOUT = 1.0
"""How long a `subscribe` without `after` waits for the hub to reach the journal's head (a coalescing window in the
normal case; a hub whose journal reads fail is not waited for longer)."""
BROADCAST_CHUNK = 50
"""Connections written to by one `broadcast` before the hub lets the loop's other callbacks run."""
REPLAY_PAGES = 4
"""Replay pages kept (and shared by clients resuming at the same position), most recently used first."""
REPLAY_BUNDLE_BYTES = FULL_FRAME_BYTES
"""The size at which a replay's bundle closes (past it by one position's deltas at most): a client sends a bundle
this large without waiting for its coalescing window. The replay lets other clients in between bundles."""


class JournalReader:
    """Blocking reads of the journal (run in a worker thread)."""

    def __init__(
        self,
        deltas_after: Callable[[int, int], list[Delta]],
        floor: Callable[[], int],
        head: Callable[[], int],
    ) -> None:
        self.deltas_after = deltas_after
        self.floor = floor
        self.head = head


@dataclass
class ReplayPage:
    """A page of the journal read for replay: its deltas encoded once, bundled once per channel set."""

    last: int
    encoded: list[tuple[str, int, bytes]]
    bundles: dict[frozenset[str], list[Bundle]] = field(default_factory=dict)
    building: dict[frozenset[str], asyncio.Future[list[Bundle]]] = field(default_factory=dict)
    """Bundles being built (loop thread only): clients replaying the page together wait for one build."""

    @classmethod
    def of(cls, deltas: Sequence[Delta]) -> ReplayPage:
        """Encode a page of deltas (not empty, whole positions, in order)."""
        return cls(
            deltas[-1].position, [(d.channel, d.position, encode_delta(d.channel, d.position, d.data)) for d in deltas]
        )

    async def bundles_for(self, channels: frozenset[str]) -> list[Bundle]:
        """The page's bundles on `channels`, built on first use in a worker thread (a page of up to 256 deltas
        framed: milliseconds of CPU, off the loop), once however many clients ask at the same time (each worker
        thread busy at once is one more taker of the GIL the loop needs)."""
        bundles = self.bundles.get(channels)
        if bundles is not None:
            return bundles
        building = self.building.get(channels)
        if building is None:
            building = self.building[channels] = asyncio.ensure_future(
                asyncio.to_thread(bundle_page, self.encoded, channels, REPLAY_BUNDLE_BYTES)
            )
            building.add_done_callback(retrieved)  # its waiters may all have gone
            building.add_done_callback(lambda done: self._built(channels, done))
        return await asyncio.shield(building)

    def _built(self, channels: frozenset[str], done: asyncio.Future[list[Bundle]]) -> None:
        del self.building[channels]
        if not done.cancelled() and done.exception() is None:
            self.bundles[channels] = done.result()


@dataclass(frozen=True)
class SubscribeOutcome:
    """The `subscribe` result's position and whether the client's `after` could be honoured."""

    position: int
    resumed: bool


def bundle_page(
    encoded: Sequence[tuple[str, int, bytes]], channels: frozenset[str], limit: int = MAX_COALESCED_BYTES
) -> list[Bundle]:
    """A page's encoded deltas on `channels` as bundles of about `limit` bytes (a bundle is closed once it
    reaches `limit`), never splitting one position's."""
    bundles: list[Bundle] = []
    frames: list[bytes] = []
    size = 0
    for _, group in groupby(encoded, key=lambda e: e[1]):
        position_frames = [frame for channel, _, frame in group if channel in channels]
        if not position_frames:
            continue
        if frames and size >= limit:
            bundles.append(Bundle.of(frames))
            frames, size = [], 0
        frames.extend(position_frames)
        size += sum(len(f) for f in position_frames)
    if frames:
        bundles.append(Bundle.of(frames))
    return bundles


class DeltaHub:
    """Journal follower and fan-out (loop thread only)."""

    def __init__(self, journal: JournalReader, *, window: float = COALESCE_WINDOW) -> None:
        self.journal = journal
        self.window = window
        """Seconds between the end of one fan-out and the next read of the journal: deltas recorded meanwhile go out
        together, so a caught-up client gets a bounded number of broadcast frames a second, as a queued one does."""
        self.position = 0
        self.live: set[Client] = set()
        self.frames_sent = 0
        self._ahead: dict[Client, int] = {}  # live clients that already have the state up to a later position
        self._replay: OrderedDict[int, asyncio.Task[ReplayPage | None]] = OrderedDict()
        self._wake = asyncio.Event()
        self._moved = asyncio.Event()
        """Set each time `position` moves (loop thread only)."""
        self._settled = asyncio.Event()
        """Set while no page is being broadcast (`settled`)."""
        self._settled.set()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Begin at the journal's head (deltas before this are only served to resuming clients)."""
        self._loop = asyncio.get_running_loop()
        self.position = await asyncio.to_thread(self.journal.head)
        self._task = asyncio.create_task(self._run(), name="delta-hub")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake_threadsafe(self, position: int | None = None) -> None:
        """Called from the projection runner's thread after each commit."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._pump()
            except Exception:
                logger.exception("reading the delta journal failed; retrying on the next wake")
                await asyncio.sleep(0.5)
                self._wake.set()
            await asyncio.sleep(self.window)

    async def _pump(self) -> None:
        while True:
            deltas = await asyncio.to_thread(self.journal.deltas_after, self.position, PAGE)
            if not deltas:
                return
            broadcasts = self._fan_out(deltas)
            self.position = deltas[-1].position
            self._moved.set()
            if self._ahead:
                self._ahead = {client: after for client, after in self._ahead.items() if after > self.position}
            await self._broadcast(broadcasts)

    def _fan_out(self, deltas: Sequence[Delta]) -> list[tuple[bytes, list[ServerConnection]]]:
        """Frame the page once per distinct channel set and hand each live client its bundles: queued for the
        clients that are not caught up (a client with anything queued or being sent gets no broadcast, so its order
        holds), and returned, with the connections of those that are, for `_broadcast`."""
        encoded = [(d.channel, d.position, encode_delta(d.channel, d.position, d.data)) for d in deltas]
        by_channels: dict[frozenset[str], list[Bundle]] = {}
        caught_up: dict[frozenset[str], list[ServerConnection]] = {}
        for client in list(self.live):
            if client.closing:
                self.live.discard(client)
                continue
            if self._ahead and client in self._ahead:
                self._push_after(client, encoded, self._ahead[client])
                continue
            key = frozenset(client.channels)
            bundles = by_channels.get(key)
            if bundles is None:
                bundles = by_channels[key] = bundle_page(encoded, key)
            if not bundles:
                continue
            if client.caught_up():
                caught_up.setdefault(key, []).append(client.connection)
            else:
                for bundle in bundles:
                    client.push(bundle)
            self.frames_sent += len(bundles)
        return [(bundle.message, connections) for key, connections in caught_up.items() for bundle in by_channels[key]]

    async def _broadcast(self, broadcasts: Sequence[tuple[bytes, Sequence[ServerConnection]]]) -> None:
        """Write each message to its caught-up connections, BROADCAST_CHUNK at a time with a turn of the loop in
        between: a page's writes to a thousand clients take the loop tens of milliseconds, which a request waiting
        for its turn (a `get_status`) would otherwise wait for whole."""
        self._settled.clear()
        try:
            for message, connections in broadcasts:
                for start in range(0, len(connections), BROADCAST_CHUNK):
                    broadcast(connections[start : start + BROADCAST_CHUNK], message, text=True)
                    await asyncio.sleep(0)
        finally:
            self._settled.set()

    async def settled(self) -> None:
        """Wait until no fan-out is being written: a client's channels changed now apply to every delta it has not
        been handed yet (an `unsubscribe` reply is followed by no delta of those channels)."""
        await self._settled.wait()

    def _push_after(self, client: Client, encoded: Sequence[tuple[str, int, bytes]], after: int) -> None:
        """A client whose snapshot was read after `after`: only the later positions, queued one by one."""
        for position, group in groupby(encoded, key=lambda e: e[1]):
            frames = [frame for channel, _, frame in group if channel in client.channels]
            if frames and position > after:
                client.push(Bundle.of(frames))
                self.frames_sent += 1

    async def outcome(self, client: Client, after: int | None) -> SubscribeOutcome:
        """Whether a subscription `after` a position can be served from the journal, and from where."""
        if after is None:
            await self._reach(await asyncio.to_thread(self.journal.head))
            return SubscribeOutcome(self.position, resumed=False)
        if client in self.live:  # a channel added now cannot have its past replayed without doubling the others'
            return SubscribeOutcome(self.position, resumed=after == self.position)
        floor, head = await asyncio.to_thread(lambda: (self.journal.floor(), self.journal.head()))
        if after < floor or after > max(self.position, head):
            return SubscribeOutcome(self.position, resumed=False)
        return SubscribeOutcome(after, resumed=True)

    async def _reach(self, head: int) -> None:
        """Wait (a window at most, in the normal case) until the hub has fanned out up to `head`, so a subscription
        from now starts at the read model's current position; after REACH_TIMEOUT it starts where the hub is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REACH_TIMEOUT):
                while self.position < head:
                    self._moved.clear()
                    await self._moved.wait()

    async def join(self, client: Client, outcome: SubscribeOutcome) -> None:
        """Feed `client` the journal after the outcome's position (when resumed), then add it to the live set."""
        if client in self.live:
            return
        cursor = outcome.position if outcome.resumed else self.position
        while cursor < self.position:
            page = await self._replay_page(cursor)
            if page is None:
                break
            if cursor < await asyncio.to_thread(self.journal.floor):  # pruned under the replay: a gap is possible
                logger.warning("the journal was pruned past a replay's position %d; closing it with 1013", cursor)
                client.drop(CLOSE_TOO_FAR_BEHIND)  # it resumes, and learns from `resumed: false` to re-read
                return
            for bundle in await page.bundles_for(frozenset(client.channels)):
                client.push(bundle)
                self.frames_sent += 1
                while not await client.writable(REPLAY_PACE_TIMEOUT):  # at the client's pace
                    if client.closing:
                        return
                await asyncio.sleep(0)  # a client that keeps up is writable at once: others' callbacks go first
            cursor = page.last
        if client.closing:
            return
        if cursor > self.position:  # replayed or read ahead of the hub: skip what the client already holds
            self._ahead[client] = cursor
        self.live.add(client)  # no await since the last check of self.position: nothing skipped or doubled

    async def _replay_page(self, cursor: int) -> ReplayPage | None:
        """The journal's page after `cursor`, read and encoded once for every client replaying from there."""
        task = self._replay.get(cursor)
        if task is None:
            task = self._replay[cursor] = asyncio.ensure_future(self._read_page(cursor))
            task.add_done_callback(retrieved)  # its readers may all have gone; a failure is re-raised to those left
            while len(self._replay) > REPLAY_PAGES:
                self._replay.popitem(last=False)
        else:
            self._replay.move_to_end(cursor)
        try:
            page = await asyncio.shield(task)  # one client leaving does not cancel the others' read
        except Exception:
            if self._replay.get(cursor) is task:
                del self._replay[cursor]
            raise
        if page is None and self._replay.get(cursor) is task:  # the head: later deltas may come; read again
            del self._replay[cursor]
        return page

    async def _read_page(self, cursor: int) -> ReplayPage | None:
        return await asyncio.to_thread(self._page_after, cursor)

    def _page_after(self, cursor: int) -> ReplayPage | None:
        """Read and encode a page (in a worker thread: encoding up to 256 deltas takes milliseconds)."""
        deltas = self.journal.deltas_after(cursor, PAGE)
        return ReplayPage.of(deltas) if deltas else None

    def unsubscribe_all(self, client: Client) -> None:
        """The connection is gone."""
        self.live.discard(client)
        self._ahead.pop(client, None)
