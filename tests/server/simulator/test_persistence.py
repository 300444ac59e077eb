"""The state file: atomic writes, versioning, the debounced saver."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.simulator.errors import StateFileError
from server.simulator.persistence import Persister, StateFile, StateSnapshot
from server.simulator.state import Operation


def operation(name: str) -> Operation:
    return Operation(
        name=name,
        media_generation_id="CAUSJ" + name,
        scene_id="s",
        kind="generate",
        origin="submit",
        created_at=1.0,
        active_at=2.0,
        complete_at=6.0,
    )


def test_missing_file_loads_as_nothing(tmp_path: Path) -> None:
    """No file yet: nothing to restore."""
    assert StateFile(tmp_path / "none.json").load() is None


def test_saved_state_loads_back_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    """Save then load gives the same snapshot; only the state file remains in the directory."""
    file = StateFile(tmp_path / "sub" / "state.json")
    snapshot = StateSnapshot(operations=[operation("a")], generate_calls_per_scene={"s": 1}, credits=7)
    file.save(snapshot)
    file.save(snapshot)
    assert file.load() == snapshot
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["state.json"]


def test_other_versions_and_garbage_are_refused(tmp_path: Path) -> None:
    """A file from another version, or not ours at all, raises StateFileError."""
    path = tmp_path / "state.json"
    path.write_text('{"version": 99}')
    with pytest.raises(StateFileError, match="version 99"):
        StateFile(path).load()
    path.write_text("[1, 2]")
    with pytest.raises(StateFileError):
        StateFile(path).load()


def test_persister_saves_on_stop(tmp_path: Path) -> None:
    """Whatever the debounce, stop() writes the latest snapshot."""
    file = StateFile(tmp_path / "state.json")
    current = StateSnapshot(credits=1)
    persister = Persister(file, lambda: current, debounce_s=60.0)
    persister.start()
    current = StateSnapshot(credits=2)
    persister.mark_dirty()
    persister.stop()
    loaded = file.load()
    assert loaded is not None
    assert loaded.credits == 2
