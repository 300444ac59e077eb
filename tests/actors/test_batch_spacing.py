"""A batch's spacing is part of the request: a poller that restores the batch keeps it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actors.calls import CallKind
from domain.requests import GenerationSpec
from tests.actors.fakes import make_rig, unfinished

WALL_NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_a_restored_batch_is_spaced_as_its_client_asked() -> None:
    """After a PollerActor crash or a restart the rest of a batch goes out `delay` apart, not at the default."""
    rig = make_rig()
    specs = [GenerationSpec(prompt=f"scene {i}", profile_id="p") for i in range(3)]
    _, ids, _ = rig.app.request_batch(specs, delay_s=2.0)
    assert rig.generation(ids[0]).batch_delay_s == 2.0
    rig.poller.restore([unfinished(rig.generation(i)) for i in ids], WALL_NOW)  # no enqueue told it the delay
    rig.run(1005.0)
    submits = rig.runner.calls(CallKind.SUBMIT)
    assert [c.job_ids[0] for c in submits] == ids
    assert [rig.runner.started_at(c) for c in submits] == pytest.approx([1000.0, 1002.0, 1004.0])


def test_a_batch_recorded_without_a_delay_uses_the_default_spacing() -> None:
    """Batches recorded before the delay was kept (or made without one) fall back to the poller's default."""
    rig = make_rig()
    _, ids, _ = rig.app.request_batch([GenerationSpec(prompt=f"old {i}", profile_id="p") for i in range(2)])
    assert rig.generation(ids[0]).batch_delay_s is None
    rig.poller.restore([unfinished(rig.generation(i)) for i in ids], WALL_NOW)
    rig.run(1002.0)
    times = [rig.runner.started_at(c) for c in rig.runner.calls(CallKind.SUBMIT)]
    assert times == pytest.approx([1000.0, 1000.0 + rig.settings.batch_delay_s])
