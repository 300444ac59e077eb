"""The state file: a journal of records, atomic rewrites, torn tails, and the debounced saver."""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest

from veo_simulator.accounts import Account
from veo_simulator.auth import AuthState
from veo_simulator.errors import StateFileError
from veo_simulator.persistence import Persister, StateFile, StateSnapshot
from veo_simulator.state import Operation


def operation(name: str, created_at: float = 1.0, **fields: object) -> Operation:
    return msgspec.structs.replace(
        Operation(
            name=name,
            media_generation_id="CAUSJ" + name,
            scene_id="s",
            kind="generate",
            origin="submit",
            created_at=created_at,
            active_at=2.0,
            complete_at=6.0,
        ),
        **fields,
    )


def spent(credits: int) -> list[Account]:
    return [Account(id="bearer:x", credits_spent=credits)]


def test_missing_file_loads_as_nothing(tmp_path: Path) -> None:
    """No file yet: nothing to restore."""
    assert StateFile(tmp_path / "none.json").load() is None


def test_rewritten_state_loads_back_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    """Rewrite then load gives the same snapshot; only the state file remains in the directory."""
    file = StateFile(tmp_path / "sub" / "state.json")
    snapshot = StateSnapshot(operations=[operation("a")], generate_calls_per_scene={"s": 1}, accounts=spent(7))
    file.rewrite(snapshot)
    file.rewrite(snapshot)
    file.close()
    assert file.load() == snapshot
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["state.json"]


def test_appended_records_update_what_came_before(tmp_path: Path) -> None:
    """Later operations, sessions, counts and accounts replace earlier ones; digests accumulate."""
    file = StateFile(tmp_path / "state.json")
    file.rewrite(
        StateSnapshot(
            operations=[operation("a"), operation("b", created_at=2.0)],
            auth=AuthState(sessions={"c1": "t1"}, expired=["x1"], captcha_seen=["k1"]),
            generate_calls_per_scene={"s": 1, "u": 1},
            accounts=spent(10),
        )
    )
    file.append(
        StateSnapshot(
            operations=[operation("a", cancelled_at=3.0), operation("n", created_at=0.5)],
            auth=AuthState(sessions={"c1": "t2", "c2": "t3"}, expired=["x2"], captcha_seen=["k2"]),
            generate_calls_per_scene={"s": 2},
            accounts=spent(4),
        )
    )
    file.append(StateSnapshot(operations=[operation("b", created_at=2.0, first_seen_terminal_at=9.0)]))
    file.close()
    loaded = file.load()
    assert loaded == StateSnapshot(
        operations=[
            operation("n", created_at=0.5),
            operation("a", cancelled_at=3.0),
            operation("b", created_at=2.0, first_seen_terminal_at=9.0),
        ],
        auth=AuthState(sessions={"c1": "t2", "c2": "t3"}, expired=["x1", "x2"], captcha_seen=["k1", "k2"]),
        generate_calls_per_scene={"s": 2, "u": 1},
        accounts=spent(4),
    )


def test_an_append_costs_what_changed_not_the_whole_state(tmp_path: Path) -> None:
    """With 2,000 operations saved, appending one changed operation adds one short line."""
    path = tmp_path / "state.json"
    file = StateFile(path)
    file.rewrite(StateSnapshot(operations=[operation(f"op-{i}", created_at=float(i)) for i in range(2000)]))
    size = path.stat().st_size
    record = StateSnapshot(operations=[operation("op-7", created_at=7.0, cancelled_at=8.0)], accounts=spent(3))
    file.append(record)
    file.close()
    assert path.stat().st_size - size == len(msgspec.json.encode(record)) + 1
    assert path.read_bytes().count(b"\n") == 2


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    """A process killed while appending leaves a partial last line: the records before it still load."""
    path = tmp_path / "state.json"
    file = StateFile(path)
    file.rewrite(StateSnapshot(operations=[operation("a")], accounts=spent(5)))
    file.close()
    torn = msgspec.json.encode(StateSnapshot(operations=[operation("b")], accounts=spent(4)))[:40]
    with path.open("ab") as handle:
        handle.write(torn)
    assert file.load() == StateSnapshot(operations=[operation("a")], accounts=spent(5))


def test_the_single_object_files_of_earlier_versions_load(tmp_path: Path) -> None:
    """A state file written before the journal (one JSON object, no newline) loads as one record."""
    path = tmp_path / "state.json"
    path.write_text('{"version":1,"operations":[],"generate_calls_per_scene":{"s":1},"credits":3}')
    assert StateFile(path).load() == StateSnapshot(generate_calls_per_scene={"s": 1})


def test_other_versions_and_garbage_are_refused(tmp_path: Path) -> None:
    """A record from another version, a bad line inside the file, or not ours at all, raises StateFileError."""
    path = tmp_path / "state.json"
    path.write_text('{"version": 99}')
    with pytest.raises(StateFileError, match="line 1 has version 99"):
        StateFile(path).load()
    path.write_text("[1, 2]")
    with pytest.raises(StateFileError, match="line 1 is not a simulator state"):
        StateFile(path).load()
    path.write_text('{"credits": 1}\n{garbage\n{"credits": 2}\n')
    with pytest.raises(StateFileError, match="line 2 is not a simulator state"):
        StateFile(path).load()


def test_append_before_rewrite_is_refused(tmp_path: Path) -> None:
    """Appending needs the file rewritten first (records only make sense after a full snapshot)."""
    with pytest.raises(StateFileError, match="rewrite it first"):
        StateFile(tmp_path / "state.json").append(StateSnapshot(accounts=spent(1)))


class FlakyFile(StateFile):
    """A state file whose next appends or rewrites fail, as on a full disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failing_appends = 0
        self.failing_rewrites = 0
        self.rewrites = 0

    def rewrite(self, snapshot: StateSnapshot) -> None:
        if self.failing_rewrites:
            self.failing_rewrites -= 1
            raise StateFileError("no space left on device")
        self.rewrites += 1
        super().rewrite(snapshot)

    def append(self, record: StateSnapshot) -> None:
        if self.failing_appends:
            self.failing_appends -= 1
            raise StateFileError("no space left on device")
        super().append(record)


class Source:
    """A state whose snapshot is everything so far and whose changes are what came since."""

    def __init__(self) -> None:
        self.credits = 100
        self.changed = False

    def spend(self) -> None:
        self.credits -= 1
        self.changed = True

    def full(self) -> StateSnapshot:
        self.changed = False
        return StateSnapshot(accounts=spent(self.credits))

    def changes(self) -> StateSnapshot | None:
        changed, self.changed = self.changed, False
        return StateSnapshot(accounts=spent(self.credits)) if changed else None


def test_persister_rewrites_first_then_appends_changes_and_saves_on_stop(tmp_path: Path) -> None:
    """Whatever the debounce, stop() saves; only the first save after start rewrites the file."""
    file = FlakyFile(tmp_path / "state.json")
    source = Source()
    persister = Persister(file, source.full, source.changes, debounce_s=60.0)
    persister.start()
    source.spend()
    persister.mark_dirty()
    persister.stop()
    assert file.rewrites == 1
    assert file.load() == StateSnapshot(accounts=spent(99))
    assert (tmp_path / "state.json").read_bytes().count(b"\n") == 1

    persister = Persister(file, source.full, source.changes, debounce_s=60.0)
    persister.start()
    persister.stop()
    assert file.rewrites == 2


def saved_then_failing_append(tmp_path: Path) -> tuple[FlakyFile, Source, Persister]:
    """A persister that has saved once, with a change pending whose append will fail."""
    file = FlakyFile(tmp_path / "state.json")
    source = Source()
    persister = Persister(file, source.full, source.changes, debounce_s=0.0)
    persister.save()
    file.failing_appends = 1
    source.spend()
    return file, source, persister


def test_after_a_failed_append_the_next_save_rewrites_everything(tmp_path: Path) -> None:
    """A change whose append failed is not lost: the next save writes the whole state again."""
    file, source, persister = saved_then_failing_append(tmp_path)
    persister.save()
    assert file.load() == StateSnapshot(accounts=spent(100))
    persister.save()
    assert file.rewrites == 2
    assert file.load() == StateSnapshot(accounts=spent(99))
    source.spend()
    persister.save()
    assert file.rewrites == 2
    assert file.load() == StateSnapshot(accounts=spent(98))
    file.close()


def test_an_outage_is_logged_once_and_its_end_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Saves failing again and again (a full disk) log one error, and the first save that works says so."""
    file, _, persister = saved_then_failing_append(tmp_path)
    with caplog.at_level(logging.WARNING, logger="veo_simulator.persistence"):
        persister.save()
        file.failing_rewrites = 2
        persister.save()
        persister.save()
        persister.save()
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "simulator state not saved (retrying while it fails): no space left on device",
        "simulator state saved again",
    ]
    assert file.load() == StateSnapshot(accounts=spent(99))
    file.close()


def test_an_appended_forgetting_drops_the_operation(tmp_path: Path) -> None:
    """A record naming forgotten operations removes them from what came before."""
    file = StateFile(tmp_path / "state.json")
    file.rewrite(StateSnapshot(operations=[operation("a"), operation("b", created_at=2.0)]))
    file.append(StateSnapshot(forgotten=["a", "never-saved"]))
    file.close()
    loaded = file.load()
    assert loaded is not None
    assert [op.name for op in loaded.operations] == ["b"]
