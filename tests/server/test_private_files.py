"""Other users of the machine cannot read the relay's files: the data directory is 0700, every file in it 0600
(POSIX), a more open existing directory is warned about, and the token is written without following links."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path

import pytest

from server.bootstrap import Settings
from server.service import run_service
from tests.e2e.harness import FAST_JOBS, run
from veo_protocol.local_server import load_or_create_token

posix = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def serve_once(data: Path) -> tuple[list[str], dict[str, int]]:
    """Run `veo serve`'s service until it announces its dashboard; what it said, and the modes of the data
    directory's files meanwhile (the SQLite -wal/-shm files, server.json and simulator.json exist only then)."""
    said: list[str] = []
    modes: dict[str, int] = {}
    stop = asyncio.Event()

    def say(line: str) -> None:
        said.append(line)
        if line.startswith("dashboard:"):
            modes.update({entry.name: mode(entry) for entry in data.iterdir()})
            stop.set()

    settings = Settings(data_dir=data, port=0, simulator=FAST_JOBS)
    assert await run_service(settings, say, stop) == 0
    return said, modes


@posix
def test_the_data_directory_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    data = tmp_path / "veo-relay"
    said, modes = run(serve_once(data))
    assert mode(data) == 0o700
    expected = {
        "events.sqlite",
        "events.sqlite-wal",
        "events.sqlite-shm",
        "events.views.sqlite",
        "events.sqlite.lock",
        "token",
        "server.json",
        "simulator.json",
    }
    assert expected <= set(modes)
    assert {name: bits for name, bits in modes.items() if bits != 0o600} == {}
    assert not any("open to other users" in line for line in said)


@posix
def test_files_an_older_version_left_open_are_narrowed(tmp_path: Path) -> None:
    """A store made before this change (0644 files) is made private on the next start; the directory is only warned
    about (it is the user's, maybe shared on purpose)."""
    data = tmp_path / "veo-relay"
    run(serve_once(data))
    data.chmod(0o755)
    for entry in data.iterdir():
        entry.chmod(0o644)
    _said, modes = run(serve_once(data))
    assert {name: bits for name, bits in modes.items() if bits != 0o600} == {}


@posix
def test_a_data_directory_open_to_others_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "shared"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="server.service"):
        said, _modes = run(serve_once(data))
    (warning,) = [line for line in said if "open to other users" in line]
    assert warning.startswith(f"warning: the data directory {data} is open to other users (mode 0755)")
    assert f"chmod 700 {data}" in warning
    assert any("open to other users" in record.getMessage() for record in caplog.records)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    """Another user who could create `token.tmp` pointing at a file of ours no longer gets it overwritten (nor the
    token written where they can read it)."""
    data = tmp_path / "veo-relay"
    data.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    (data / "token.tmp").symlink_to(victim)
    token, new = load_or_create_token(data, None)
    assert new
    assert victim.read_text() == "keep me\n"
    assert (data / "token").read_text() == token + "\n"
    assert not (data / "token").is_symlink()
    assert sorted(entry.name for entry in data.iterdir()) == ["token", "token.tmp"]
