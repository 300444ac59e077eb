"""The delta hub's fan-out: one framing per page and channel set, positions never split, snapshots ahead respected."""

from __future__ import annotations

import asyncio

import msgspec

from projections.history import Delta
from server.client import MAX_COALESCED_BYTES, Client
from server.hub import DeltaHub, JournalReader, SubscribeOutcome, bundle_page
from server.protocol import encode_delta
from tests.server.fake_connection import FakeConnection, client_on, payloads

GEN, BATCH = "generation:status", "batch:progress"


def row(n: int, pad: int = 0) -> bytes:
    return msgspec.json.encode({"n": n, "pad": "x" * pad})


def encoded(deltas: list[Delta]) -> list[tuple[str, int, bytes]]:
    return [(d.channel, d.position, encode_delta(d.channel, d.position, d.data)) for d in deltas]


class Journal:
    """An in-memory journal with the reader's three calls."""

    def __init__(self) -> None:
        self.deltas: list[Delta] = []

    def reader(self) -> JournalReader:
        return JournalReader(self.after, lambda: 0, lambda: self.deltas[-1].position if self.deltas else 0)

    def after(self, position: int, limit: int) -> list[Delta]:
        return [d for d in self.deltas if d.position > position][:limit]


def seen(connection: FakeConnection) -> list[tuple[int, str]]:
    """(position, channel) of every delta that reached the connection, in order."""
    out: list[tuple[int, str]] = []
    for frame in payloads(connection.transport.data):
        assert isinstance(frame, dict)
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


async def stop(hub: DeltaHub, clients: list[Client]) -> None:
    await hub.stop()
    for client in clients:
        await client.stop()
