"""What the simulator's core hands the state file: everything once, then only what changed."""

from __future__ import annotations

from pathlib import Path

from tests.veo_simulator.fakes import FakeClock
from veo_simulator.config import SimulatorConfig
from veo_simulator.core import SimCore
from veo_simulator.state import NewOperation


def make_core(tmp_path: Path | None, clock: FakeClock) -> SimCore:
    state_file = tmp_path / "state.json" if tmp_path is not None else None
    return SimCore(SimulatorConfig(lo=10.0, hi=10.0, seed=1, state_file=state_file), clock, clock)


def test_changes_hold_only_what_changed_since_the_snapshot(tmp_path: Path) -> None:
    """Created, cancelled and first-seen-terminal operations, new digests and counts; nothing else."""
    clock = FakeClock()
    core = make_core(tmp_path, clock)
    old = [core.book.create(NewOperation(scene_id=f"old-{i}")) for i in range(3)]
    assert len(core.snapshot().operations) == 3
    assert core.changes() is None

    new = core.book.create(NewOperation(scene_id="new"))
    core.audit.created(["new"])
    core.captcha.consume("captcha-1")
    core.tokens.expire("bearer-1")
    token = core.tokens.session_token("cookie-1")
    core.accounts.spend("bearer:x", 5)
    changes = core.changes()
    assert changes is not None
    assert [op.name for op in changes.operations] == [new.name]
    assert changes.generate_calls_per_scene == {"new": 1}
    assert len(changes.auth.captcha_seen) == 1
    assert len(changes.auth.expired) == 1
    assert list(changes.auth.sessions.values()) == [token]
    assert [(a.id, a.credits_spent) for a in changes.accounts] == [("bearer:x", 5)]
    assert core.changes() is None

    clock.advance(11.0)
    core.book.observe(old[0])
    core.book.observe(old[0])
    core.book.cancel(old[1].name)  # finished already: the cancel changes nothing
    core.book.mark_ambiguous(old[2], "timeout")
    changes = core.changes()
    assert changes is not None
    assert {op.name for op in changes.operations} == {old[0].name, old[2].name}
    (seen,) = (op for op in changes.operations if op.name == old[0].name)
    assert seen.first_seen_terminal_at == clock.now


def test_a_cancel_is_a_change(tmp_path: Path) -> None:
    """Cancelling a running operation hands it over again, with its cancellation instant."""
    clock = FakeClock()
    core = make_core(tmp_path, clock)
    op = core.book.create(NewOperation(scene_id="s"))
    core.snapshot()
    core.book.cancel(op.name)
    changes = core.changes()
    assert changes is not None
    assert [o.cancelled_at for o in changes.operations] == [clock.now]


def test_changes_are_copies_taken_under_the_lock(tmp_path: Path) -> None:
    """A record is not altered by what happens to the operation after it was taken."""
    clock = FakeClock()
    core = make_core(tmp_path, clock)
    op = core.book.create(NewOperation(scene_id="s"))
    changes = core.changes()
    core.book.cancel(op.name)
    assert changes is not None
    assert changes.operations[0].cancelled_at is None


def test_without_a_state_file_nothing_is_collected() -> None:
    """No state file, no growing record of changes."""
    clock = FakeClock()
    core = make_core(None, clock)
    core.book.create(NewOperation(scene_id="s"))
    core.captcha.consume("captcha-1")
    core.audit.created(["s"])
    assert core.changes() is None
