"""`veo get` against a real `veo serve`: the kept video saved byte for byte, id prefixes, no overwrite without
--force, exit 2 when there is no stored video, exit 3 when the relay is unreachable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.server.relay_process import RelayProcess, Result, running_relay, veo
from veo_cli.main import cli


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    with running_relay(tmp_path_factory.mktemp("relay")) as process:
        yield process


@pytest.fixture(scope="module")
def finished(relay: RelayProcess) -> tuple[str, bytes]:
    """A completed generation whose video the relay has kept, and the simulator's bytes of it."""
    submitted = veo("submit", "a lighthouse at dusk", "--wait", "--json", data=relay.data)
    assert submitted.code == 0, submitted.err
    row = submitted.json()
    original = httpx.get(row["video_url"], trust_env=False).content
    deadline = time.monotonic() + 30
    while veo("status", row["id"], "--json", data=relay.data).json()["video_stored_at"] is None:
        assert time.monotonic() < deadline, "the video was not kept"
        time.sleep(0.1)
    return row["id"], original


def get(relay: RelayProcess, *args: str) -> Result:
    return veo("get", *args, data=relay.data)


def test_the_video_is_saved_byte_for_byte_and_not_overwritten_without_force(
    relay: RelayProcess, finished: tuple[str, bytes], tmp_path: Path
) -> None:
    """-o FILE gets the simulator's bytes; a second get refuses (exit 2) until --force; a prefix works."""
    generation_id, original = finished
    target = tmp_path / "clip.mp4"
    saved = get(relay, generation_id, "-o", str(target))
    assert saved.code == 0, saved.err
    assert target.read_bytes() == original
    assert str(target) in saved.out
    again = get(relay, generation_id[:8], "-o", str(target))
    assert again.code == 2
    assert "--force" in again.err
    target.write_bytes(b"old")
    forced = get(relay, generation_id[:8], "-o", str(target), "--force", "--json")
    assert forced.code == 0, forced.err
    assert forced.json() == {"generation_id": generation_id, "path": str(target), "bytes": len(original)}
    assert target.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_the_default_file_is_the_id_with_mp4_in_the_current_directory(
    relay: RelayProcess, finished: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation_id, original = finished
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["get", generation_id, "--data", str(relay.data)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{generation_id}.mp4").read_bytes() == original


def test_no_stored_video_exits_2_and_no_relay_exits_3(relay: RelayProcess, tmp_path: Path) -> None:
    """An unknown id (full or prefix) exits 2 with a clear message and writes nothing; an unreachable relay 3."""
    target = tmp_path / "none.mp4"
    unknown = get(relay, "00000000-0000-4000-8000-000000000000", "-o", str(target))
    assert unknown.code == 2
    assert "no stored video" in unknown.err
    assert get(relay, "fffffff", "-o", str(target)).code == 2
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    gone = veo("get", "00000000-0000-4000-8000-000000000000", "--url", "http://127.0.0.1:9", "--token", "t", data=None)
    assert gone.code == 3
