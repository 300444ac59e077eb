"""A model's daily quota end to end: over the websocket server, against a Flow simulator that allows each account one
generation of the fast model (`--model-quota`), a pool job of that model refused on account a with
`PER_MODEL_DAILY_QUOTA_REACHED` goes to b, while a's job of another model keeps running and a takes the next one.

The simulator's clock stands still until the end, so every render is still running when the test looks at the
accounts; the renders end when the test moves the clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

from tests.e2e.harness import Peer, Relay, relay, run, wait_until
from tests.e2e.test_account_pool import frozen_simulator
from veo_protocol import Generate, GetStatuses, QueueStatus
from veo_simulator import SimulatorConfig, bearer_account

FAST, QUALITY = "veo_3_1_t2v_fast", "veo_3_1_t2v_quality"
RENDER_S = 1.0
TOKENS = {"a": "ya29.model-a", "b": "ya29.model-b"}
PROFILES = """
[profiles.a]
project_id = "proj-a"
bearer_token = "ya29.model-a"
recaptcha = "off"
max_active = 10
submit_gap = 0

[profiles.b]
project_id = "proj-b"
bearer_token = "ya29.model-b"
recaptcha = "off"
max_active = 1
submit_gap = 0
"""
"""a has the most room, so a pool job goes there first; b takes one at a time."""
SIMULATOR = SimulatorConfig(port=0, rate=0.0, lo=RENDER_S, hi=RENDER_S, seed=1, model_quotas={FAST: 1})


async def on_flow(target: Relay, peer: Peer, model: str, profile_id: str | None = None) -> tuple[str, str | None]:
    """Request one generation and wait until Flow accepted it: its id, and the account it runs on."""
    reply = await peer.ok(Generate, prompt=f"a lighthouse, {model}", model=model, profile_id=profile_id)
    generation_id: str = reply.data["generation_id"]
    app = target.system.app
    await wait_until(lambda: app.get_generation(UUID(generation_id)).operation_name is not None, what="Flow to take it")
    return generation_id, app.get_generation(UUID(generation_id)).account


def test_a_pool_job_of_a_model_out_on_one_account_moves_to_another_while_the_account_runs_other_models(
    tmp_path: Path,
) -> None:
    """a's fast quota is used by a pinned job; the pool's fast job is refused there and goes to b; a's other-model
    job keeps running, and a takes the next one of that model."""
    sim, sim_clock, profiles = frozen_simulator(SIMULATOR, tmp_path, PROFILES)

    async def scenario() -> None:
        async with relay(tmp_path / "data", profiles=profiles, flow_url=sim.url, keep_videos=False) as target:
            peer = await target.connect()
            used, first = await on_flow(target, peer, FAST, "a")  # a's one fast generation
            running, on_a = await on_flow(target, peer, QUALITY, "a")
            moved, to = await on_flow(target, peer, FAST)  # tried on a (most room), refused, then b
            assert (first, on_a, to) == ("a", "a", "b")
            status = (await peer.ok(QueueStatus)).data
            accounts = {a["profile_id"]: a for a in status["accounts"]}
            assert (accounts["a"]["state"], list(accounts["a"]["models_out_of_quota"])) == ("ready", [FAST])
            assert accounts["b"]["models_out_of_quota"] == {}
            rows = (await peer.ok(GetStatuses, generation_ids=[running, moved])).data
            assert [(row["status"], row["profile_id"]) for row in rows] == [("pending", "a"), ("pending", "b")]
            other, next_other = await on_flow(target, peer, QUALITY)  # b is full; a still takes the other model
            assert next_other == "a"
            sim_clock.advance(RENDER_S)
            await all_completed(peer, [used, running, moved, other])

    try:
        run(scenario(), timeout=60)
    finally:
        sim.stop()
    audit = sim.audit()["accounts"]
    a, b = (audit[bearer_account(TOKENS[name])] for name in "ab")
    assert (a["model_quota_used"], a["model_quota_refusals"]) == ({FAST: 1, QUALITY: 2}, {FAST: 1})
    assert (b["model_quota_used"], b["model_quota_refusals"]) == ({FAST: 1}, {})
    assert (a["quota_refusals"], a["throttled_total"], b["throttled_total"]) == (0, 0, 0)


async def all_completed(peer: Peer, generation_ids: list[str]) -> None:
    """Wait until these generations have completed (the renders end once the simulator's clock moved)."""
    while True:
        rows: list[dict[str, Any]] = (await peer.ok(GetStatuses, generation_ids=generation_ids)).data
        if all(row["status"] == "completed" for row in rows):
            return
        await asyncio.sleep(0.05)
