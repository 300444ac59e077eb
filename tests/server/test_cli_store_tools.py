"""`veo replay` and `veo rebuild` on a real SQLite store, and their refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from domain.requests import GenerationSpec
from projections.history import HistoryView
from server.store import locate
from veo_cli.main import cli


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, UUID]:
    app = locate(tmp_path, None).open_app()
    gid, _ = app.request_generation(GenerationSpec(prompt="a fox at dawn", seed=4))
    app.record_submitted(gid)
    app.record_started(gid, "op-1", "media-1", "MEDIA_GENERATION_STATUS_PENDING")
    time.sleep(0.005)  # Started and Completed in different milliseconds, which is what --at resolves
    app.record_completed(gid, "mg-1", "https://videos.example/1.mp4")
    app.close()
    return tmp_path, gid


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_replay_prints_the_whole_timeline_as_json_lines(store: tuple[Path, UUID]) -> None:
    """Every event, in position order, one JSON object per line."""
    data, gid = store
    code, out, _ = run("replay", "--json", "--data", str(data))
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["position"], r["event"]) for r in records] == [
        (1, "Requested"),
        (2, "Submitted"),
        (3, "Started"),
        (4, "Completed"),
    ]
    assert {r["generation_id"] for r in records} == {str(gid)}
    assert records[0]["data"]["prompt"] == "a fox at dawn"


def test_replay_of_one_generation_in_text(store: tuple[Path, UUID]) -> None:
    """A generation's events with versions and their fields."""
    data, gid = store
    code, out, _ = run("replay", str(gid), "--data", str(data))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4
    assert "Started" in lines[2]
    assert "operation_name=op-1" in lines[2]


def test_replay_at_a_past_time_shows_the_state_then(store: tuple[Path, UUID]) -> None:
    """--at folds only the events recorded up to that moment."""
    data, gid = store
    _, out, _ = run("replay", str(gid), "--json", "--data", str(data))
    started_at = json.loads(out.splitlines()[2])["recorded_at"]
    code, out, _ = run("replay", str(gid), "--json", "--at", started_at, "--data", str(data))
    row = json.loads(out)
    assert code == 0
    assert (row["status"], row["operation_name"], row["video_url"]) == ("pending", "op-1", None)


def test_replay_at_a_time_of_one_generation_shows_its_known_fields_in_utc(store: tuple[Path, UUID]) -> None:
    """No `None`s; the moment is said in UTC, and a time without a zone is said to be read as UTC."""
    data, gid = store
    _, out, _ = run("replay", str(gid), "--json", "--data", str(data))
    started_at = json.loads(out.splitlines()[2])["recorded_at"]
    code, out, _ = run("replay", str(gid), "--at", started_at.removesuffix("Z"), "--data", str(data))
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == (
        f"state at {started_at[:10]} {started_at[11:23]} UTC (a time without Z or an offset is read as UTC)"
    )
    assert "None" not in out
    assert "status: submitted" in out
    assert "operation_name: op-1" in out
    assert "video_url" not in out
    _, zoned, _ = run("replay", str(gid), "--at", started_at, "--data", str(data))
    assert zoned.splitlines()[0] == f"state at {started_at[:10]} {started_at[11:23]} UTC"
    assert zoned.splitlines()[1:] == lines[1:]


def test_replay_at_a_time_of_the_whole_store_is_a_table(store: tuple[Path, UUID]) -> None:
    """One row per generation: time, id, status word and prompt; before anything existed, it says so."""
    data, gid = store
    code, out, _ = run("replay", "--at", "2099-01-01T00:00:00Z", "--data", str(data))
    assert code == 0
    assert out.splitlines()[1].strip() == "1 generation (times in UTC)"
    assert any(line.split()[1:4] == [str(gid), "done", "a"] for line in out.splitlines()[2:] if line.strip())
    assert "None" not in out
    _, empty, _ = run("replay", "--at", "2020-01-01T00:00:00Z", "--data", str(data))
    assert empty.splitlines() == ["state at 2020-01-01 00:00:00.000 UTC", "no generations yet"]


def test_replay_before_the_generation_existed_says_so(store: tuple[Path, UUID]) -> None:
    """A time before Requested is not an empty success."""
    data, gid = store
    code, _, err = run("replay", str(gid), "--at", "2020-01-01T00:00:00Z", "--data", str(data))
    assert code == 1
    assert "did not exist yet" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "not-a-uuid"], "is not a generation id"),
        (["replay", "--at", "yesterday"], "not an ISO-8601 time"),
        (["rebuild", "everything"], "Invalid value"),
    ],
)
def test_bad_arguments_are_usage_errors(store: tuple[Path, UUID], args: list[str], message: str) -> None:
    """Exit 2 with a message naming the problem."""
    data, _ = store
    code, _, err = run(*args, "--data", str(data))
    assert code == 2
    assert message in err


def test_unknown_generation_is_reported(store: tuple[Path, UUID]) -> None:
    """A well-formed id that is not in the store."""
    data, _ = store
    code, _, err = run("replay", "00000000-0000-4000-8000-000000000000", "--data", str(data))
    assert code == 1
    assert "no generation" in err


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    """replay and rebuild never create a store where none was."""
    for command in ("replay", "rebuild"):
        code, _, err = run(command, "--data", str(tmp_path / "nothing"))
        assert code == 2
        assert "no event store" in err
    assert not (tmp_path / "nothing").exists()


def test_a_corrupt_store_is_refused(tmp_path: Path) -> None:
    """A file that is not an SQLite event store gets a clear message and stays as it was."""
    bad = tmp_path / "events.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    code, _, err = run("rebuild", "--store", str(bad))
    assert code == 2
    assert "not a readable event store" in err
    assert bad.read_bytes() == b"this is not a database" * 100


def test_rebuild_reports_what_it_did(store: tuple[Path, UUID]) -> None:
    """The rebuilt history holds the generation as completed."""
    data, gid = store
    code, out, _ = run("rebuild", "history", "--data", str(data))
    assert code == 0
    assert "rebuilt history: 4 events up to position 4" in out
    db = locate(data, None).open_read_model()
    try:
        row = HistoryView().get(db.reader(), str(gid))
    finally:
        db.close()
    assert row is not None
    assert row.status == "completed"


def test_store_flag_overrides_the_environment(store: tuple[Path, UUID], monkeypatch: pytest.MonkeyPatch) -> None:
    """Flags win over VEO_DATA."""
    data, _ = store
    monkeypatch.setenv("VEO_DATA", "/nonexistent")
    code, _, _ = run("replay", "--data", str(data))
    assert code == 0
