"""The account pool end to end: a batch without a profile over the websocket server, against a Flow simulator that
limits each account on its own, with three accounts: one configured past the simulator's active limit (it is
throttled once and learns), one whose quota runs out, one within the limits. Every job completes, no account is
hard-blocked (the simulator's own per-account audit says so), and `queue_status` and `/metrics` show the accounts.

The simulator's clock stands still until the relay can submit nothing more, so which submission is refused does not
depend on how fast the machine is: renders end only when the test moves the simulator's clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import Peer, relay, run
from tests.veo_simulator.fakes import FakeClock
from veo_protocol import BatchGenerate, GetBatch, GetStatuses, QueueStatus, Result
from veo_simulator import Simulator, SimulatorConfig, bearer_account

RENDER_S = 1.0
POLL_S = 0.05
"""Between two looks at the relay (two requests: well under the flood control's 50 a second)."""
JOBS = 7
"""As many as the accounts' places (3 + 2 + 2): a refused job goes back to the queue, so every place is tried in the
first round, b's third (throttled: the simulator allows 2) and c's second (its quota is 1) among them."""
TOKENS = {"a": "ya29.pool-a", "b": "ya29.pool-b", "c": "ya29.pool-c"}
PROFILES = """
[profiles.a]
project_id = "proj-a"
bearer_token = "ya29.pool-a"
recaptcha = "off"
max_active = 2
submit_gap = 0

[profiles.b]
project_id = "proj-b"
bearer_token = "ya29.pool-b"
recaptcha = "off"
max_active = 3
submit_gap = 0

[profiles.c]
project_id = "proj-c"
bearer_token = "ya29.pool-c"
recaptcha = "off"
max_active = 2
submit_gap = 0
"""
THROTTLED_B = 'veo_account_throttles_total{profile="b"} 1'
SIMULATOR = SimulatorConfig(
    port=0,
    rate=0.0,
    lo=RENDER_S,
    hi=RENDER_S,
    seed=1,
    account_active=2,
    account_throttles_before_block=3,
    account_quotas={TOKENS["c"]: 1},
)


def frozen_simulator(config: SimulatorConfig, tmp_path: Path, profiles: str) -> tuple[Simulator, FakeClock, Path]:
    """A started simulator whose clock moves only when the test says, and the relay's profiles file for it."""
    sim_clock = FakeClock()
    sim = Simulator(config, wall=sim_clock)
    sim.start()
    path = tmp_path / "profiles.toml"
    path.write_text(profiles)
    path.chmod(0o600)
    return sim, sim_clock, path


def stuck(status: dict[str, Any], unfinished: int) -> bool:
    """The relay holds every unfinished job and can submit none now: none is being submitted, and each account is
    paused, resting or full (only a render ending, on the simulator's clock, can change that)."""
    held = sum(status[key] for key in ("queued", "waiting_token", "submitting", "pending", "processing"))
    accounts = status["accounts"]
    blocked = all(a["state"] != "ready" or (a["limit"] is not None and a["active"] >= a["limit"]) for a in accounts)
    return held == unfinished and status["submitting"] == 0 and (status["queued"] == 0 or blocked)


async def run_to_the_end(peer: Peer, batch_id: str, sim_clock: FakeClock) -> None:
    """Move the simulator's clock past the renders each time the relay is stuck, until the batch is finished."""
    while True:
        batch = (await peer.ok(GetBatch, batch_id=batch_id)).data
        finished = batch["completed"] + batch["failed"] + batch["cancelled"]
        if finished == JOBS:
            return
        if stuck((await peer.ok(QueueStatus)).data, JOBS - finished):
            sim_clock.advance(RENDER_S)
        await asyncio.sleep(POLL_S)


async def scraped(base_url: str, line: str) -> set[str]:
    """The `veo_account_` lines of `/metrics` once they include `line` (the snapshot is refreshed every second)."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
        lines: set[str] = set()
        while line not in lines:
            text = (await http.get("/metrics")).text
            lines = {each for each in text.splitlines() if each.startswith("veo_account_")}
            await asyncio.sleep(0.05)
        return lines


def test_a_pool_batch_completes_on_three_accounts_without_a_hard_block(tmp_path: Path) -> None:
    """Every job completes, b is throttled once and learns, c's quota refusal sends its job to another account,
    and the simulator blocked no account."""
    sim, sim_clock, profiles = frozen_simulator(SIMULATOR, tmp_path, PROFILES)

    async def scenario() -> None:
        async with relay(tmp_path / "data", profiles=profiles, flow_url=sim.url, keep_videos=False) as target:
            peer = await target.connect()
            batch = await peer.ok(
                BatchGenerate, prompts=[f"a kite over dunes, take {i}" for i in range(JOBS)], delay_ms=0
            )
            await run_to_the_end(peer, batch.data["batch_id"], sim_clock)
            assert (await peer.ok(GetBatch, batch_id=batch.data["batch_id"])).data["completed"] == JOBS
            rows = await peer.ok(GetStatuses, generation_ids=batch.data["generation_ids"])
            status = await peer.ok(QueueStatus)
            check(rows, status, await scraped(target.http_url, THROTTLED_B))

    try:
        run(scenario(), timeout=60)
    finally:
        sim.stop()
    audit = sim.audit()["accounts"]
    figures = {name: audit[bearer_account(token)] for name, token in TOKENS.items()}
    assert {name: f["blocks"] for name, f in figures.items()} == {"a": [], "b": [], "c": []}
    assert {name: f["blocked_answers"] for name, f in figures.items()} == {"a": 0, "b": 0, "c": 0}
    assert {name: f["throttled_total"] for name, f in figures.items()} == {"a": 0, "b": 1, "c": 0}
    assert figures["c"]["generations_accepted"] == 1
    assert figures["c"]["quota_refusals"] == 1  # out of the pool after it: no second try before its reset
    assert sum(f["generations_accepted"] for f in figures.values()) == JOBS


def check(rows: Result, status: Result, lines: set[str]) -> None:
    """Each row names the account it ran on; the relay's accounts say what the simulator did."""
    used = [row["profile_id"] for row in rows.data]
    assert sorted(set(used)) == ["a", "b", "c"]
    assert used.count("c") == 1
    accounts = {a["profile_id"]: a for a in status.data["accounts"]}
    assert {name: (a["throttles_total"], a["blocks_total"]) for name, a in accounts.items()} == {
        "a": (0, 0),
        "b": (1, 0),
        "c": (0, 0),
    }
    # b's refused submission came 0.1 s after its previous one: Flow may have meant the gap, so only the gap widened
    assert (accounts["b"]["limit"], accounts["b"]["gap"]) == (3, 2.0)
    assert {name: a["done_last_24h"] for name, a in accounts.items()} == {n: used.count(n) for n in "abc"}
    assert {f'veo_account_blocks_total{{profile="{name}"}} 0' for name in "abc"} <= lines
    assert 'veo_account_gap_seconds{profile="b"} 2.0' in lines
    assert 'veo_account_state{profile="a",state="ready"} 1' in lines
    assert accounts["c"]["state"] == "out_of_quota"
    assert accounts["c"]["quota_until"] is not None and accounts["a"]["quota_until"] is None
    assert 'veo_account_state{profile="c",state="out_of_quota"} 1' in lines
