"""The pool against the simulator over loopback: one of three accounts runs out of quota mid-batch, the others
finish the work, and the account stays out of the pool (issue 23, item 4)."""

from __future__ import annotations

from pathlib import Path

from domain.requests import GenerationSpec
from tests.actors.system import all_terminal, running_system, statuses, wait_for
from veo_simulator import Simulator, SimulatorConfig

PROFILES = """
[profiles.a]
bearer_token = "ya29.account-a"
project_id = "project-a"
recaptcha = "off"
max_active = 3
submit_gap = 0.2

[profiles.b]
bearer_token = "ya29.account-b"
project_id = "project-b"
recaptcha = "off"
max_active = 3
submit_gap = 0.2

[profiles.c]
bearer_token = "ya29.account-c"
project_id = "project-c"
recaptcha = "off"
max_active = 3
submit_gap = 0.2
quota_reset = "08:00"
"""


def test_an_account_out_of_quota_leaves_the_pool_and_the_others_finish_the_batch(tmp_path: Path) -> None:
    config = SimulatorConfig(lo=0.1, hi=0.3, seed=11, account_active=3, account_quotas={"ya29.account-c": 1})
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(PROFILES)
    profiles.chmod(0o600)
    with (
        Simulator(config) as flow,
        running_system(tmp_path, profiles=profiles, flow_url=flow.url, labs_url=flow.url) as system,
    ):
        _, ids, _ = system.app.request_batch([GenerationSpec(prompt=f"p{i}", profile_id=None) for i in range(6)])
        system.poller.enqueue(ids, delay_s=0.0)
        wait_for(all_terminal(system, ids), timeout=30.0, what="the batch to finish")
        assert statuses(system, ids) == ["completed"] * 6
        status = system.poller.queue_status()
        assert not isinstance(status, dict)
        states = {account.profile_id: account for account in status.accounts}
        assert states["c"].state == "out_of_quota"
        assert states["c"].quota_until is not None
        assert states["c"].quota_until.endswith("T08:00:00.000Z")
        assert {states[name].state for name in "ab"} == {"ready"}
        audit = flow.audit()["accounts"]
        assert sum(entry["quota_refusals"] for entry in audit.values()) == 1
        assert all(not entry["blocks"] for entry in audit.values())
        accepted = sorted(entry["generations_accepted"] for entry in audit.values())
        assert (accepted[0], sum(accepted)) == (1, 6)  # c took one before its quota ran out
