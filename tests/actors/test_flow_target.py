"""Which Flow the system talks to: the built-in simulator, or the one `--flow-url` names."""

from __future__ import annotations

from pathlib import Path

from domain.requests import GenerationSpec
from tests.actors.system import all_terminal, running_system, statuses, wait_for
from veo_simulator import Simulator, SimulatorConfig


def test_a_flow_url_without_profiles_uses_that_flow_and_starts_no_simulator(tmp_path: Path) -> None:
    """--flow-url alone points the stand-in profile at an external simulator; none is started in-process."""
    with Simulator(SimulatorConfig(lo=0.2, hi=0.4, seed=3)) as external:
        with running_system(tmp_path, flow_url=external.url) as system:
            assert system.simulator is None
            gid, _ = system.app.request_generation(GenerationSpec(prompt="elsewhere"))
            system.poller.enqueue([gid])
            wait_for(all_terminal(system, [gid]))
            assert statuses(system, [gid]) == ["completed"]
        assert external.audit()["requests_total"] > 0
