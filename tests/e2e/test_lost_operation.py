"""A job whose operation Flow forgets fails with `operation_lost` long before its deadline (real relay,
real simulator), while a job Flow still knows completes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from domain.values import TERMINAL_STATUSES, ErrorReason, Status
from tests.e2e.harness import Peer, relay, run
from veo_protocol import Channel, Generate, Subscribe
from veo_simulator import SimulatorConfig

JOB_S = 8.0
LOST_AFTER_S = 1.0


def rows(peer: Peer, generation_id: str) -> list[dict[str, Any]]:
    """Every version of the generation's row the peer received, oldest first."""
    return [d.data for d in peer.deltas if d.data.get("id") == generation_id]


def final_row(peer: Peer, generation_id: str) -> dict[str, Any] | None:
    return next((r for r in rows(peer, generation_id) if r["status"] in TERMINAL_STATUSES), None)


def test_a_forgotten_operation_fails_as_lost_while_another_job_completes(tmp_path: Path) -> None:
    """The simulator forgets one running job's operation: its status answers leave it out while they report
    the other job, so after `--lost-after` it fails with operation_lost; the other completes as usual."""

    async def scenario() -> None:
        simulator = SimulatorConfig(lo=JOB_S, hi=JOB_S, seed=1)
        async with relay(tmp_path, simulator=simulator, lost_after=LOST_AFTER_S) as target:
            assert target.system.simulator is not None
            peer = await target.connect()
            await peer.ok(Subscribe, channels=[Channel.GENERATION_STATUS])
            lost = (await peer.ok(Generate, prompt="forgotten by Flow")).data["generation_id"]
            kept = (await peer.ok(Generate, prompt="known to Flow")).data["generation_id"]

            def operation() -> str | None:
                return next((r["operation_name"] for r in rows(peer, lost) if r.get("operation_name")), None)

            await peer.until(lambda: operation() is not None, what="the job's operation name")
            async with httpx.AsyncClient(base_url=target.system.simulator.url) as admin:
                forgotten = await admin.delete(f"/_sim/operations/{operation()}")
            assert forgotten.status_code == 200

            await peer.until(lambda: final_row(peer, lost) is not None, what="the lost job to fail")
            failed = final_row(peer, lost)
            assert failed is not None
            assert (failed["status"], failed["error_reason"]) == (Status.FAILED, ErrorReason.OPERATION_LOST)
            assert "no longer knows" in failed["error_message"]
            assert final_row(peer, kept) is None  # the other job was still running, its checks reporting it

            await peer.until(lambda: final_row(peer, kept) is not None, what="the other job to complete")
            done = final_row(peer, kept)
            assert done is not None
            assert (done["status"], done["error_reason"]) == (Status.COMPLETED, None)

    run(scenario(), timeout=60.0)
