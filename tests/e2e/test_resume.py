"""Resuming a subscription after a lost connection: every delta exactly once, or an honest `resumed: false`."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from domain.requests import GenerationSpec
from projections.history import Delta
from tests.e2e.harness import batch_finished, caught_up, journal, keys, relay, run, videos_kept, wait_until
from veo_protocol import BatchGenerate, Channel, Generate, GetStatuses, Result, Subscribe, encode_request

CHANNELS = ["generation:status", "batch:progress"]
PRUNE_EVERYTHING = "9999-12-31T23:59:59.999Z"


def test_a_client_resuming_after_a_dropped_connection_gets_every_delta_exactly_once(tmp_path: Path) -> None:
    """Deltas before the drop plus those after `after` equal an unbroken client's, and the journal's."""

    async def scenario() -> None:
        # without the keeper: its events after each Completed would keep coming once the batch has finished
        async with relay(tmp_path, keep_videos=False) as target:
            witness = await target.connect()
            start = (await witness.ok(Subscribe, channels=CHANNELS)).position
            dropped = await target.connect()
            assert (await dropped.ok(Subscribe, channels=CHANNELS)).position == start
            batch = await witness.ok(BatchGenerate, prompts=[f"take {i}" for i in range(8)], delay_ms=100)
            await dropped.until(lambda: len(dropped.deltas) >= 20, what="the batch to be under way")
            assert dropped.ws.transport is not None
            dropped.ws.transport.abort()  # no close handshake: the connection is simply lost
            assert await dropped.closed_with() is None
            last = dropped.last_position
            assert last is not None
            await witness.until(lambda: (witness.last_position or 0) > last + 4, what="deltas missed while away")
            resumed = await target.connect()
            answer = await resumed.ok(Subscribe, channels=CHANNELS, after=last)
            assert (answer.data["resumed"], answer.data["position"]) == (True, last)

            def batch_done() -> bool:
                rows = [d.data for d in witness.deltas if d.channel == "batch:progress"]
                return bool(rows) and batch_finished(rows[-1]) == 8

            await witness.until(batch_done, what="the batch to finish")
            await caught_up(target, witness, resumed)
            assert all(d.position > last for d in resumed.deltas)
            rejoined = dropped.deltas + resumed.deltas
            assert keys(rejoined) == keys(witness.deltas)
            assert [d.data for d in rejoined] == [d.data for d in witness.deltas]
            assert keys(witness.deltas) == [(d.position, d.channel) for d in journal(target, start)]
            assert {d.data["batch_id"] for d in rejoined} == {batch.data["batch_id"]}
            await resumed.close()
            await witness.close()

    run(scenario())


def test_after_older_than_the_pruned_journal_is_not_resumed_and_starts_live(tmp_path: Path) -> None:
    """`resumed: false` with the current position when the journal no longer holds `after`; live deltas follow."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=CHANNELS)
            first = await peer.ok(Generate, prompt="before the prune")
            first_id = first.data["generation_id"]
            await peer.until(lambda: peer.deltas[-1:] != [] and peer.deltas[-1].data["status"] == "completed")
            await videos_kept(target, first_id)  # its last event
            head = await caught_up(target, peer)
            with target.system.db.write() as conn:
                assert target.system.history.prune_journal(conn, PRUNE_EVERYTHING, keep_last=0) > 0
            late = await target.connect()
            answer = await late.ok(Subscribe, channels=CHANNELS, after=1)
            assert (answer.data["resumed"], answer.data["position"]) == (False, head)
            second = await late.ok(Generate, prompt="after the prune")
            second_id = second.data["generation_id"]
            await late.until(lambda: late.deltas[-1:] != [] and late.deltas[-1].data["status"] == "completed")
            assert {d.data["id"] for d in late.deltas} == {second_id} != {first_id}
            assert all(d.position > head for d in late.deltas)
            await late.close()
            await peer.close()

    run(scenario())


def test_after_at_the_head_resumes_with_nothing_to_replay_and_after_beyond_it_does_not(tmp_path: Path) -> None:
    """`after` equal to the current position resumes; a position the store never reached does not."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=CHANNELS)
            journaled = await peer.ok(Generate, prompt="something to journal")
            await peer.until(lambda: peer.deltas[-1:] != [] and peer.deltas[-1].data["status"] == "completed")
            await videos_kept(target, journaled.data["generation_id"])  # its last event
            head = await caught_up(target, peer)
            at_head = await target.connect()
            answer = await at_head.ok(Subscribe, channels=CHANNELS, after=head)
            assert (answer.data["resumed"], answer.data["position"]) == (True, head)
            ahead = await target.connect()
            answer = await ahead.ok(Subscribe, channels=CHANNELS, after=head + 1000)
            assert (answer.data["resumed"], answer.data["position"]) == (False, head)
            assert at_head.deltas == ahead.deltas == []
            for client in (at_head, ahead, peer):
                await client.close()

    run(scenario())


def test_a_live_connection_resubscribing_with_an_old_after_is_told_it_did_not_resume(tmp_path: Path) -> None:
    """Adding a channel to a live subscription cannot replay that channel's past: `resumed` must say so."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=["generation:status"])
            specs = [GenerationSpec(prompt=f"shot {i}") for i in range(3)]
            await asyncio.to_thread(target.system.app.request_batch, specs)
            head = await caught_up(target, peer)
            answer = await peer.ok(Subscribe, channels=["batch:progress"], after=0)
            assert (answer.data["resumed"], answer.data["position"]) == (False, head)
            at_head = await peer.ok(Subscribe, channels=["batch:progress"], after=head)
            assert (at_head.data["resumed"], at_head.data["position"]) == (True, head)
            assert {d.channel for d in peer.deltas} == {"generation:status"}
            await peer.close()

    run(scenario())


def test_subscribing_after_a_snapshot_newer_than_the_hub_sends_no_older_deltas(tmp_path: Path) -> None:
    """A snapshot may be read before the hub has fanned out its latest events: those must not follow it."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            witness = await target.connect()
            await witness.ok(Subscribe, channels=CHANNELS)
            journal_reader = target.server.hub.journal
            unblocked = threading.Event()
            read_deltas = journal_reader.deltas_after

            def held_back(after: int, limit: int) -> list[Delta]:
                unblocked.wait(10)
                return read_deltas(after, limit)

            journal_reader.deltas_after = held_back  # the hub falls behind the read model
            _, ids, _ = await asyncio.to_thread(
                target.system.app.request_batch, [GenerationSpec(prompt=f"take {i}") for i in range(3)]
            )
            await target.settled()
            reader = await target.connect()
            snapshot = await reader.ok(GetStatuses, generation_ids=[str(i) for i in ids])
            assert len(snapshot.data) == 3
            subscribed = await reader.ok(Subscribe, channels=CHANNELS, after=snapshot.position)
            assert (subscribed.data["resumed"], subscribed.data["position"]) == (True, snapshot.position)
            unblocked.set()
            later = await witness.ok(Generate, prompt="after the snapshot")
            later_id = later.data["generation_id"]
            await reader.until(lambda: any(d.data.get("id") == later_id for d in reader.deltas), what="a new delta")
            await witness.until(lambda: witness.last_position == reader.last_position, what="the witness")
            assert [d.position for d in reader.deltas if d.position <= snapshot.position] == []
            assert keys(reader.deltas) == [k for k in keys(witness.deltas) if k[0] > snapshot.position]
            await reader.close()
            await witness.close()

    run(scenario())


def test_a_second_subscribe_sent_during_a_replay_doubles_nothing(tmp_path: Path) -> None:
    """Two `subscribe after: 0` sent back to back on one connection: the journal once, in order, no duplicate."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            target.system.app.request_batch([GenerationSpec(prompt=f"{i} " + "z" * 2000) for i in range(600)])
            recorded = await target.settled()
            hub = target.server.hub
            await wait_until(lambda: hub.position == recorded, what="the hub to follow the journal to its end")
            peer = await target.connect()
            first, second = peer.next_id(), peer.next_id()
            for request_id in (first, second):  # the second arrives while the first is still replaying
                request = Subscribe(id=request_id, channels=[Channel(c) for c in CHANNELS], after=0)
                await peer.ws.send(encode_request(request).decode())
            answers = [await peer.reply(first), await peer.reply(second)]
            # the second waited for the first replay; nothing of the past is replayed twice: resumed is false
            assert [a.data["resumed"] for a in answers if isinstance(a, Result)] == [True, False]
            last = await caught_up(target, peer)
            assert isinstance(answers[1], Result) and answers[1].data["position"] == last
            assert keys(peer.deltas) == [(d.position, d.channel) for d in journal(target, 0)]
            await peer.close()

    run(scenario())
