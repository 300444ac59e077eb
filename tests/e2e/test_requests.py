"""Requests answered by a live relay: refresh, queue_status, cancel and reads, with their error codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from actors.poller import Poller
from domain.requests import GenerationSpec
from domain.values import TERMINAL_STATUSES
from tests.e2e.harness import Peer, relay, run, videos_kept, wait_until
from veo_protocol import (
    BatchGenerate,
    Cancel,
    Channel,
    ErrorCode,
    ErrorReply,
    Generate,
    GetBatch,
    GetHistory,
    GetStatus,
    QueueStatus,
    Refresh,
    Retry,
    Subscribe,
    Upscale,
)
from veo_simulator import SimulatorConfig

QUEUE_STATUS_FIELDS = {
    "queued",
    "waiting_token",
    "submitting",
    "pending",
    "processing",
    "in_flight",
    "requests_last_second",
    "budget",
    "providers",
    "paused_profiles",
}
SLOW_JOBS = SimulatorConfig(lo=3.0, hi=3.0, seed=1)


async def finished(peer: Peer, generation_id: str) -> dict[str, Any]:
    """Wait for the generation's terminal delta (the peer subscribes to generation:status); its row."""

    def terminal() -> list[dict[str, Any]]:
        return [
            d.data for d in peer.deltas if d.data.get("id") == generation_id and d.data["status"] in TERMINAL_STATUSES
        ]

    await peer.until(lambda: bool(terminal()), what=f"{generation_id} to finish")
    return terminal()[-1]


async def error(peer: Peer, kind: type[Any], **fields: Any) -> ErrorReply:
    """A request that must fail: its error."""
    reply = await peer.request(kind, **fields)
    assert isinstance(reply, ErrorReply), reply
    return reply


def test_refresh_returns_the_row_and_an_unknown_id_is_not_found(tmp_path: Path) -> None:
    """Refresh of a running job answers with its current row; of a finished one, the final row."""

    async def scenario() -> None:
        # without the keeper: its event after Completed would change the final row between the reads
        async with relay(tmp_path, simulator=SLOW_JOBS, keep_videos=False) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=[Channel.GENERATION_STATUS])
            generation_id = (await peer.ok(Generate, prompt="refresh me")).data["generation_id"]
            running = await peer.ok(Refresh, generation_id=generation_id)
            assert running.data["id"] == generation_id
            assert running.data["status"] in ("pending", "processing")
            assert running.position >= 1
            final = await finished(peer, generation_id)
            again = await peer.ok(Refresh, generation_id=generation_id)
            assert again.data == final
            assert (await peer.ok(GetStatus, generation_id=generation_id)).data == final
            missing = await error(peer, Refresh, generation_id=uuid4())
            assert (missing.code, missing.field) == (ErrorCode.NOT_FOUND, "generation_id")
            await peer.close()

    run(scenario())


def test_queue_status_has_the_contracts_fields(tmp_path: Path) -> None:
    """queue_status reports the queue, the budget and the providers, with the read model's position."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            status = await peer.ok(QueueStatus)
            assert set(status.data) >= QUEUE_STATUS_FIELDS
            counts = {k: v for k, v in status.data.items() if k in QUEUE_STATUS_FIELDS - {"budget", "paused_profiles"}}
            assert all(isinstance(v, int) and v >= 0 for v in counts.values()), counts
            assert status.data["budget"]["rate"] == 10.0
            assert status.data["paused_profiles"] == []
            assert status.position == 0
            (account,) = status.data["accounts"]  # the built-in simulator's stand-in: no per-account limit
            assert account.pop("credits") in (None, 50_000)  # read from the simulator at start, maybe not yet
            assert account == {
                "profile_id": "default",
                "state": "ready",
                "seconds_left": None,
                "reason": None,
                "pool": True,
                "active": 0,
                "limit": None,
                "configured_limit": None,
                "gap": 0.0,
                "configured_gap": 0.0,
                "throttles_last_hour": 0,
                "throttles_total": 0,
                "blocks_total": 0,
                "done_last_24h": 0,
                "quota_until": None,
                "models_out_of_quota": {},
            }
            assert status.data["waiting_for_accounts"] is None
            assert status.data["keep_videos"] is True
            await peer.close()

    run(scenario())


def test_queue_status_is_answered_from_the_pollers_snapshot_without_a_message_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the PollerActor has handled everything told it, queue_status costs it nothing (no ask in its inbox)."""

    def asked(_poller: Poller) -> object:
        raise AssertionError("queue_status asked the PollerActor")

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            await target.settled()
            supervisor = target.system.poller
            await wait_until(lambda: supervisor.published_status() is not None, what="the poller's first snapshot")
            monkeypatch.setattr(Poller, "status", asked)
            peer = await target.connect()
            status = await peer.ok(QueueStatus)
            assert set(status.data) >= QUEUE_STATUS_FIELDS
            assert status.data["queued"] == 0
            await peer.close()

    run(scenario())


def test_cancel_stops_a_running_job_and_a_finished_one_is_a_conflict(tmp_path: Path) -> None:
    """Cancel answers with the cancelled row (its delta on generation:status says `cancelled`); cancelling it
    again says it is already cancelled, and a completed job is a conflict."""

    async def scenario() -> None:
        async with relay(tmp_path, simulator=SLOW_JOBS) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=[Channel.GENERATION_STATUS])
            running_id = (await peer.ok(Generate, prompt="cancel me")).data["generation_id"]
            await peer.until(lambda: any(d.data["operation_name"] for d in peer.deltas), what="Flow to accept it")
            cancelled = await peer.ok(Cancel, generation_id=running_id)
            assert (cancelled.data["status"], cancelled.data["error_reason"]) == ("cancelled", "cancelled")
            last = await finished(peer, running_id)
            assert (last["status"], last["error_reason"]) == ("cancelled", "cancelled")
            again = await error(peer, Cancel, generation_id=running_id)
            assert again.code == ErrorCode.CONFLICT
            assert again.message.endswith("it is already cancelled")
            done_id = (await peer.ok(Generate, prompt="let me finish")).data["generation_id"]
            done = await finished(peer, done_id)
            assert (done["status"], done["profile_id"]) == ("completed", "default")  # the pool's one account
            await videos_kept(target, done_id)  # the keeper's event comes after Completed
            before = target.store_position()
            late = await error(peer, Cancel, generation_id=done_id)
            assert late.code == ErrorCode.CONFLICT
            assert "completed" in late.message
            retry = await error(peer, Retry, generation_id=done_id)
            assert retry.code == ErrorCode.CONFLICT
            unfinished = await error(peer, Upscale, generation_id=running_id)
            assert unfinished.code == ErrorCode.CONFLICT
            unknown = await error(peer, Cancel, generation_id=uuid4())
            assert (unknown.code, unknown.field) == (ErrorCode.NOT_FOUND, "generation_id")
            batch = await error(peer, GetBatch, batch_id=uuid4())
            assert (batch.code, batch.field) == (ErrorCode.NOT_FOUND, "batch_id")
            assert target.store_position() == before
            await peer.close()

    run(scenario())


def test_commands_answer_with_their_ids_and_a_repeated_key_or_retry_makes_nothing_new(tmp_path: Path) -> None:
    """generate, batch_generate and upscale with a request key name the same jobs when repeated (`created`
    false), a retry asked twice is one new job, and an unknown profile is a bad_message naming the known ones."""

    async def scenario() -> None:
        async with relay(tmp_path, simulator=SLOW_JOBS) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=[Channel.GENERATION_STATUS])
            unknown = await error(peer, Generate, prompt="a fox", profile_id="nobody")
            assert (unknown.code, unknown.field) == (ErrorCode.BAD_MESSAGE, "profile_id")
            assert unknown.message == "profile_id: unknown profile 'nobody' (known: default)"
            first = await peer.ok(Generate, prompt="a heron", request_key="heron")
            again = await peer.ok(Generate, prompt="a heron", request_key="heron")
            assert (first.data["created"], again.data) == (True, {**first.data, "created": False})
            pair = {"prompts": ["one", "two"], "delay_ms": 0, "request_key": "pair"}
            batch = await peer.ok(BatchGenerate, **pair)
            assert (await peer.ok(BatchGenerate, **pair)).data == batch.data
            assert len(batch.data["generation_ids"]) == 2
            cancelled_id = (await peer.ok(Generate, prompt="retry me")).data["generation_id"]
            await peer.ok(Cancel, generation_id=cancelled_id)
            retried = await peer.ok(Retry, generation_id=cancelled_id)
            assert (await peer.ok(Retry, generation_id=cancelled_id)).data == retried.data
            assert retried.data["generation_id"] != cancelled_id
            retry_row = (await peer.ok(GetStatus, generation_id=retried.data["generation_id"])).data
            assert (retry_row["retry_of"], retry_row["prompt"]) == (cancelled_id, "retry me")
            assert (await finished(peer, first.data["generation_id"]))["status"] == "completed"
            upscale = await peer.ok(Upscale, generation_id=first.data["generation_id"], request_key="up")
            upscale_again = await peer.ok(Upscale, generation_id=first.data["generation_id"], request_key="up")
            assert (upscale.data["created"], upscale_again.data) == (True, {**upscale.data, "created": False})
            await peer.close()

    run(scenario())


def test_a_history_page_of_long_prompts_stays_under_one_mebibyte(tmp_path: Path) -> None:
    """500 rows of 5,000-character prompts would be 2.5 MB: the page is cut short and `next` continues it."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            target.system.app.request_batch([GenerationSpec(prompt=f"{i} " + "x" * 5000) for i in range(400)])
            await target.settled()
            peer = await target.connect(max_size=2**20)
            first = await peer.ok(GetHistory, limit=500)
            rows = [r for g in first.data["groups"] for r in g["items"]]
            assert 0 < len(rows) < 400
            assert first.data["next"] is not None
            second = await peer.ok(GetHistory, limit=500, before=first.data["next"])
            more = [r for g in second.data["groups"] for r in g["items"]]
            assert len({r["id"] for r in rows + more}) == len(rows) + len(more)
            await peer.close()

    run(scenario())
