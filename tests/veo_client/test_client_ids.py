"""Against a real `veo serve`: ids by their first characters, a batch file's bad line, the usual time, a terminal."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.relay_process import ROOT, VEO, RelayProcess, client_env, running_relay, veo


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    with running_relay(tmp_path_factory.mktemp("relay")) as process:
        yield process


@pytest.fixture(scope="module")
def done(relay: RelayProcess) -> dict[str, str]:
    """A completed generation's row."""
    row: dict[str, str] = veo("submit", "an otter on a rock", "--wait", "--json", data=relay.data).json()
    return row


def _all_ids(relay: RelayProcess) -> list[str]:
    page = veo("history", "--limit", "500", "--json", data=relay.data).json()
    return [row["id"] for group in page["groups"] for row in group["items"]]


@pytest.mark.parametrize("command", ["status", "refresh"])
def test_a_unique_prefix_names_the_generation(relay: RelayProcess, done: dict[str, str], command: str) -> None:
    """The 8 characters the tables show are enough (when no other id starts with them)."""
    prefix = done["id"][:8]
    assert sum(i.startswith(prefix) for i in _all_ids(relay)) == 1
    result = veo(command, prefix, "--json", data=relay.data)
    assert result.code == 0, result.err
    assert result.json()["id"] == done["id"]


def test_upscale_retry_and_cancel_take_a_prefix_too(relay: RelayProcess, done: dict[str, str]) -> None:
    """Each command that takes an id resolves it first; the server then answers as it would for the full id."""
    upscaled = veo("upscale", done["id"][:8], "--wait", "--json", data=relay.data)
    assert upscaled.code == 0, upscaled.err
    assert upscaled.json()["source_generation_id"] == done["id"]
    cancelled = veo("cancel", done["id"][:8], data=relay.data)
    assert cancelled.code == 2
    assert done["id"] in cancelled.err
    assert "already completed" in cancelled.err
    retried = veo("retry", done["id"][:8], data=relay.data)
    assert retried.code == 2
    assert done["id"] in retried.err


def test_an_ambiguous_prefix_lists_the_candidates_and_exits_2(relay: RelayProcess, tmp_path: Path) -> None:
    """Seventeen ids share at least one first character: that character names no single generation."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"a heron number {n}\n" for n in range(17)))
    assert veo("batch", str(prompts), "--no-wait", "--delay", "0", data=relay.data).code == 0
    ids = _all_ids(relay)
    firsts = Counter(i[0] for i in ids)
    shared = min((c for c, n in firsts.items() if n > 1), key=lambda c: firsts[c])
    result = veo("status", shared, data=relay.data)
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines()[0] == (
        f"veo: '{shared}' is the start of {firsts[shared]} generation ids; give more of the id:"
    )
    for generation_id in (i for i in ids if i.startswith(shared)):
        assert generation_id in result.err
    assert "a heron number" in result.err


def test_an_unknown_prefix_exits_2_naming_it(relay: RelayProcess) -> None:
    """Nothing starts with it; nothing is sent to Flow."""
    unknown = next(p for p in (f"{n:04x}" for n in range(65536)) if not any(i.startswith(p) for i in _all_ids(relay)))
    result = veo("cancel", unknown, data=relay.data)
    assert result.code == 2
    assert result.err.strip() == f"veo: no generation id starts with '{unknown}'"


def test_a_full_id_is_not_looked_up(relay: RelayProcess) -> None:
    """An unknown full UUID goes to the server as it is, which says it is not found."""
    unknown = "0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00"
    result = veo("status", unknown, data=relay.data)
    assert result.code == 2
    assert result.err.strip() == f"veo: generation {unknown} not found"


def test_a_bad_line_of_a_batch_file_is_named_by_its_line_number(relay: RelayProcess, tmp_path: Path) -> None:
    """Blank lines count; people read no field, programs (--json) keep it; nothing is made."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a kite\n\n" + "x" * 10_001 + "\na boat\n")
    before = len(_all_ids(relay))
    result = veo("batch", str(prompts), data=relay.data)
    as_json = veo("batch", str(prompts), "--json", data=relay.data)
    assert result.code == as_json.code == 2
    assert result.err.startswith(f"veo: line 3 of {prompts}: the prompt must be text of 1 to 10,000 characters")
    assert "field" not in result.err
    assert as_json.err.rstrip().endswith("(field: prompts[1])")
    assert len(_all_ids(relay)) == before


def test_submit_wait_says_the_usual_time_once_a_job_of_that_model_finished(
    relay: RelayProcess, done: dict[str, str]
) -> None:
    """The median completion time of the model (get_analytics) beside the time so far; a failure's plain reason."""
    result = veo("submit", "a second otter", "--wait", data=relay.data)
    assert result.code == 0, result.err
    assert "(usually about " in result.lines()[0]
    failed = veo("submit", "an otter [unsafe]", "--wait", data=relay.data)
    assert failed.code == 1
    last = failed.lines()[-1]
    assert last.split()[1] == "failed"
    assert "refused" in last
    assert "MEDIA_GENERATION_STATUS" not in failed.out


def test_on_a_terminal_submit_wait_still_prints_each_word_once(relay: RelayProcess) -> None:
    """The counting line below the output (a live display) never swallows nor repeats a printed line."""
    leader, follower = pty.openpty()
    command = [str(VEO), "submit", "a terminal otter", "--wait", "--data", str(relay.data)]
    process = subprocess.Popen(command, stdout=follower, stderr=follower, env=client_env(), cwd=ROOT)
    os.close(follower)
    screen = b""
    with contextlib.suppress(OSError):  # EIO once the process closed its side
        while chunk := os.read(leader, 4096):
            screen += chunk
    os.close(leader)
    assert process.wait(timeout=30) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode()).replace("\r", "\n")
    lines = [line for line in text.splitlines() if line.startswith(("queued", "submitted", "rendering", "done"), 38)]
    assert [line.split()[1] for line in lines][-1] == "done"
    assert len({line.split()[1] for line in lines}) == len(lines)
