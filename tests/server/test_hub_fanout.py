"""The delta hub's fan-out: one framing per page and channel set, positions never split, snapshots ahead respected."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from projections.history import Delta
from server import hub as hub_module
from server.client import CAUGHT_UP_BUFFER_BYTES, MAX_COALESCED_BYTES, Bundle, Client
from server.hub import (
    BROADCAST_CHUNK,
    PAGE,
    REPLAY_BUNDLE_BYTES,
    DeltaHub,
    JournalReader,
    SubscribeOutcome,
    bundle_page,
)
from tests.server.fake_connection import FakeConnection, client_on, payloads
from veo_protocol import CLOSE_TOO_FAR_BEHIND, encode_delta, encode_result

GEN, BATCH = "generation:status", "batch:progress"


def row(n: int, pad: int = 0) -> bytes:
    return msgspec.json.encode({"n": n, "pad": "x" * pad})


def encoded(deltas: list[Delta]) -> list[tuple[str, int, bytes]]:
    return [(d.channel, d.position, encode_delta(d.channel, d.position, d.data)) for d in deltas]


class Journal:
    """An in-memory journal with the reader's three calls; counts the reads of deltas."""

    def __init__(self) -> None:
        self.deltas: list[Delta] = []
        self.reads: list[int] = []
        self.floor = 0

    def reader(self) -> JournalReader:
        return JournalReader(self.after, lambda: self.floor, lambda: self.deltas[-1].position if self.deltas else 0)

    def after(self, position: int, limit: int) -> list[Delta]:
        self.reads.append(position)
        return [d for d in self.deltas if d.position > position][:limit]


class ReadingConnection(FakeConnection):
    """A connection whose `send` returns (its write buffer drained) only while its reader reads."""

    def __init__(self, reading: bool = True) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        if reading:
            self.reading.set()

    async def send(self, message: bytes, *, text: bool) -> None:
        await super().send(message, text=text)
        await self.reading.wait()


def seen(connection: FakeConnection) -> list[tuple[int, str]]:
    """(position, channel) of every delta that reached the connection, in order."""
    out: list[tuple[int, str]] = []
    for frame in payloads(connection.transport.data):
        if not isinstance(frame, dict) or frame["type"] not in ("delta", "deltas"):  # a close frame or a reply
            continue
        for d in frame["deltas"] if frame["type"] == "deltas" else [frame]:
            out.append((d["position"], d["channel"]))
    return out


def test_a_page_is_bundled_per_channel_set_keeping_each_positions_deltas_together() -> None:
    """Only the set's channels, in position order; a bundle closes after 256 KiB but never inside a position."""
    big = MAX_COALESCED_BYTES // 2
    page = encoded(
        [
            Delta(1, GEN, row(1, big)),
            Delta(1, BATCH, row(1)),
            Delta(2, GEN, row(2, big)),
            Delta(2, BATCH, row(2)),
            Delta(3, BATCH, row(3)),
        ]
    )
    both = bundle_page(page, frozenset({GEN, BATCH}))
    assert [[msgspec.json.decode(f)["position"] for f in b.frames] for b in both] == [[1, 1, 2, 2], [3]]
    assert [len(b.frames) for b in bundle_page(page, frozenset({BATCH}))] == [3]
    assert bundle_page(page, frozenset({"upscale:status"})) == []


def test_clients_get_the_deltas_of_their_own_channels_in_one_frame_per_page() -> None:
    """Clients with different channel sets each get their channels' deltas; equal sets share the same bytes."""

    async def scenario() -> None:
        journal = Journal()
        hub = DeltaHub(journal.reader())
        await hub.start()
        connections = [FakeConnection() for _ in range(3)]
        clients = [client_on(c) for c in connections]
        for client, channels in zip(clients, [{GEN}, {GEN}, {GEN, BATCH}], strict=True):
            client.channels.update(channels)
            await hub.join(client, SubscribeOutcome(hub.position, resumed=False))
        journal.deltas += [Delta(1, GEN, row(1)), Delta(1, BATCH, row(1)), Delta(2, BATCH, row(2))]
        hub.wake_threadsafe(2)
        await asyncio.wait_for(connections[2].transport.wrote.wait(), 5.0)
        assert seen(connections[0]) == seen(connections[1]) == [(1, GEN)]
        assert seen(connections[2]) == [(1, GEN), (1, BATCH), (2, BATCH)]
        assert len(payloads(connections[2].transport.data)) == 1
        assert connections[0].transport.data == connections[1].transport.data
        await stop(hub, clients)

    asyncio.run(scenario())


def test_a_client_whose_snapshot_is_ahead_of_the_hub_gets_only_later_positions() -> None:
    """Joining with a position the hub has not reached yet skips the deltas up to it, then follows live."""

    async def scenario() -> None:
        journal = Journal()
        hub = DeltaHub(journal.reader())
        await hub.start()
        journal.deltas += [Delta(1, GEN, row(1)), Delta(2, GEN, row(2))]  # recorded; the hub is not woken yet
        connection = FakeConnection()
        client = client_on(connection)
        client.channels.add(GEN)
        await hub.join(client, SubscribeOutcome(1, resumed=True))
        journal.deltas += [Delta(3, GEN, row(3))]
        hub.wake_threadsafe(3)
        await asyncio.wait_for(connection.transport.wrote.wait(), 5.0)
        await client.drained(5.0)
        assert hub.position == 3
        assert seen(connection) == [(2, GEN), (3, GEN)]
        await stop(hub, [client])

    asyncio.run(scenario())


def test_a_replay_to_a_client_that_does_not_read_holds_at_most_one_bundle() -> None:
    """Replay hands over one bundle, then waits for it to be sent; once the client reads, every delta follows once."""

    async def scenario() -> None:
        _, hub, connection, client, joining = await replaying(20, 100_000, after=0)  # 2 MB: 20 bundles
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(payloads(connection.transport.data)) == 1
        assert len(connection.transport.data) <= MAX_COALESCED_BYTES + 2 * 100_100
        assert client.backlog() <= REPLAY_BUNDLE_BYTES + 100_100 and not joining.done()  # that bundle, no more
        connection.reading.set()
        await asyncio.wait_for(joining, 5.0)
        assert seen(connection) == [(p, GEN) for p in range(1, 21)]
        assert client in hub.live
        await stop(hub, [client])

    asyncio.run(scenario())


def test_clients_resuming_from_the_same_position_share_one_read_and_encoding_per_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two clients replaying at once, and a third later, cost one journal read and one framing per page; all get
    the same bytes."""
    framings: list[int] = []

    def counted(encoded: list[tuple[str, int, bytes]], channels: frozenset[str], limit: int) -> list[Bundle]:
        framings.append(encoded[0][1])
        time.sleep(0.05)  # a slow framing: a second client asking meanwhile must wait for it, not frame again
        return bundle_page(encoded, channels, limit)

    monkeypatch.setattr(hub_module, "bundle_page", counted)

    async def scenario() -> None:
        journal = Journal()
        journal.deltas += [Delta(p, GEN, row(p, 1_000)) for p in range(1, 601)]  # 3 pages
        hub = DeltaHub(journal.reader())
        await hub.start()
        connections = [ReadingConnection() for _ in range(3)]
        clients = [client_on(c) for c in connections]
        for client in clients:
            client.channels.add(GEN)
        await asyncio.gather(*(hub.join(c, SubscribeOutcome(0, resumed=True)) for c in clients[:2]))
        await hub.join(clients[2], SubscribeOutcome(0, resumed=True))
        assert journal.reads == [0, PAGE, 2 * PAGE]
        assert framings == [1, PAGE + 1, 2 * PAGE + 1]
        assert seen(connections[0]) == [(p, GEN) for p in range(1, 601)]
        assert connections[0].transport.data == connections[1].transport.data == connections[2].transport.data
        await stop(hub, clients)

    asyncio.run(scenario())


def test_a_replay_writes_bundles_of_at_most_64_kib_and_lets_other_callbacks_run_between_them() -> None:
    """A client that keeps up is writable at once; its replay still yields after each bundle, so other clients'
    callbacks are not held up behind a whole page of writes (each write of a large bundle costs the loop)."""

    async def scenario() -> None:
        journal = Journal()
        journal.deltas += [Delta(p, GEN, row(p, 2_000)) for p in range(1, PAGE + 1)]  # one page, ~0.5 MB
        hub = DeltaHub(journal.reader())
        await hub.start()
        connection = ReadingConnection()
        writes: list[int] = []
        write = connection.transport.write

        def counted(data: bytes) -> None:
            writes.append(len(data))
            write(data)

        connection.transport.write = counted  # type: ignore[method-assign]
        client = client_on(connection)
        client.channels.add(GEN)
        joining = asyncio.create_task(hub.join(client, SubscribeOutcome(0, resumed=True)))
        seen_by_neighbour: set[int] = set()
        while not joining.done():  # another client's callbacks, one per loop turn
            seen_by_neighbour.add(len(writes))
            await asyncio.sleep(0)
        await joining
        assert seen(connection) == [(p, GEN) for p in range(1, PAGE + 1)]
        assert len(writes) >= 8
        assert max(writes) <= REPLAY_BUNDLE_BYTES + 2_100
        assert set(range(1, len(writes))) <= seen_by_neighbour  # a turn between every two writes
        await stop(hub, [client])

    asyncio.run(scenario())


def test_a_replay_is_followed_by_live_deltas_with_no_gap_or_double() -> None:
    """Deltas recorded while a client replays reach it once, in order: by replay or live, never both."""

    async def scenario() -> None:
        journal, hub, connection, client, joining = await replaying(10, 50_000, after=3)
        journal.deltas += [Delta(p, GEN, row(p)) for p in range(11, 14)]
        hub.wake_threadsafe(13)
        for _ in range(20):
            await asyncio.sleep(0)
        connection.reading.set()
        await asyncio.wait_for(joining, 5.0)
        journal.deltas += [Delta(14, GEN, row(14))]
        hub.wake_threadsafe(14)
        await asyncio.wait_for(hub_at(hub, 14), 5.0)
        await client.drained(5.0)
        assert seen(connection) == [(p, GEN) for p in range(4, 15)]
        await stop(hub, [client])

    asyncio.run(scenario())


def test_a_replay_overtaken_by_pruning_is_closed_with_1013_rather_than_given_a_gap() -> None:
    """The journal is pruned past a replaying client's position: it gets no later page, only a 1013 close."""

    async def scenario() -> None:
        journal, hub, connection, client, joining = await replaying(600, 1_000, after=0)
        journal.floor = 400  # pruned up to 400 while the client held its first bundle
        connection.reading.set()
        await asyncio.wait_for(joining, 5.0)
        await asyncio.sleep(0)
        assert seen(connection) == [(p, GEN) for p in range(1, PAGE + 1)]  # the page read before: no gap
        assert client.closing and client not in hub.live
        assert connection.close_codes == [CLOSE_TOO_FAR_BEHIND]
        await stop(hub, [client])

    asyncio.run(scenario())


async def replaying(
    count: int, pad: int, after: int
) -> tuple[Journal, DeltaHub, ReadingConnection, Client, asyncio.Task[None]]:
    """A hub over `count` recorded deltas and a client that does not read, replaying them from `after`."""
    journal = Journal()
    journal.deltas += [Delta(p, GEN, row(p, pad)) for p in range(1, count + 1)]
    hub = DeltaHub(journal.reader())
    await hub.start()
    connection = ReadingConnection(reading=False)
    client = client_on(connection)
    client.channels.add(GEN)
    joining = asyncio.create_task(hub.join(client, SubscribeOutcome(after, resumed=True)))
    await asyncio.wait_for(connection.transport.wrote.wait(), 5.0)
    return journal, hub, connection, client, joining


async def hub_at(hub: DeltaHub, position: int) -> None:
    while hub.position < position:
        await asyncio.sleep(0)


async def stop(hub: DeltaHub, clients: list[Client]) -> None:
    await hub.stop()
    for client in clients:
        await client.stop()


def test_caught_up_clients_get_a_page_by_broadcast_and_the_others_through_their_queue_in_order() -> None:
    """An idle client with a small write buffer is written to by one broadcast; one with a send in flight or a full
    write buffer gets the same deltas through its queue, after what it was already sending."""

    async def scenario() -> None:
        journal = Journal()
        hub = DeltaHub(journal.reader())
        await hub.start()
        idle, sending, buffered = FakeConnection(), FakeConnection(), FakeConnection()
        sending.gate = asyncio.get_running_loop().create_future()
        buffered.transport.buffered = CAUGHT_UP_BUFFER_BYTES
        clients = [client_on(c) for c in (idle, sending, buffered)]
        for client in clients:
            client.channels.add(GEN)
            await hub.join(client, SubscribeOutcome(hub.position, resumed=False))
        clients[1].send_now(encode_result("r1", None, 0))
        await asyncio.wait_for(sending.sending.wait(), 5.0)
        for position in (1, 2):
            idle.transport.wrote.clear()
            journal.deltas.append(Delta(position, GEN, row(position)))
            hub.wake_threadsafe(position)
            await asyncio.wait_for(idle.transport.wrote.wait(), 5.0)
        assert (idle.broadcasts, idle.sends) == (2, 0)
        assert seen(idle) == [(1, GEN), (2, GEN)]
        sending.open_gate()
        for client in clients:
            await client.drained(5.0)
        assert sending.broadcasts == buffered.broadcasts == 0
        assert msgspec.json.decode(sending.messages[0])["id"] == "r1"
        assert seen(sending) == seen(buffered) == [(1, GEN), (2, GEN)]
        await stop(hub, clients)

    asyncio.run(scenario())


def test_a_page_broadcast_to_many_clients_lets_other_callbacks_run_between_chunks_and_settles_after() -> None:
    """Caught-up clients are written to BROADCAST_CHUNK at a time with a loop turn in between (a request's callback is
    not held up behind a thousand writes), and `settled` returns only once every one of them has been written to."""

    async def scenario() -> None:
        journal = Journal()
        hub = DeltaHub(journal.reader())
        await hub.start()
        connections = [FakeConnection() for _ in range(BROADCAST_CHUNK * 2 + 7)]
        clients = [client_on(c) for c in connections]
        for client in clients:
            client.channels.add(GEN)
            await hub.join(client, SubscribeOutcome(hub.position, resumed=False))

        def written() -> int:
            return sum(c.broadcasts for c in connections)

        journal.deltas.append(Delta(1, GEN, row(1)))
        hub.wake_threadsafe(1)
        seen_by_neighbour: set[int] = set()
        while written() < len(connections):  # another callback, one per loop turn
            seen_by_neighbour.add(written())
            if written():
                await hub.settled()  # mid-broadcast: waits for the rest
                assert written() == len(connections)
            await asyncio.sleep(0)
        assert {BROADCAST_CHUNK} <= seen_by_neighbour
        assert all(seen(c) == [(1, GEN)] for c in connections)
        await stop(hub, clients)

    asyncio.run(scenario())
