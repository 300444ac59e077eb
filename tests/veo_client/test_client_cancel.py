"""`veo cancel` and what `--wait` makes of a cancelled job, against a real `veo serve` whose jobs take minutes
(so a cancel always arrives before Flow finishes)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.relay_process import running_relay, start_veo, veo
from veo_client.exits import EXIT_CANCELLED

SLOW_JOBS = "600,600"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_relay(tmp_path_factory.mktemp("slow-relay"), args=["--simulator-times", SLOW_JOBS]) as process:
        yield process.data


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a started `veo` command: (exit code, stdout, stderr)."""
    try:
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


def started(job: str, data: Path, timeout: float = 30.0) -> None:
    """Wait until Flow accepted the job (a cancel during its submission ends only once Flow answers it)."""
    deadline = time.monotonic() + timeout
    while veo("status", job, "--json", data=data).json()["operation_name"] is None:
        assert time.monotonic() < deadline, f"{job} was not started within {timeout} s"


def test_cancel_twice_says_it_is_already_cancelled(data: Path) -> None:
    """The first cancel answers the `cancelled` row; the second is a conflict (exit 2) saying so."""
    job = veo("submit", "a long pan over the sea", "--json", data=data).json()["generation_id"]
    started(job, data)
    first = veo("cancel", job, "--json", data=data)
    assert first.code == 0, first.err
    assert (first.json()["status"], first.json()["error_reason"]) == ("cancelled", "cancelled")
    second = veo("cancel", job, data=data)
    assert second.code == 2
    assert "already cancelled" in second.err


def test_submit_wait_of_a_job_cancelled_meanwhile_exits_4(data: Path) -> None:
    """`--wait` ends on `cancelled` (terminal) with the new exit code; --json prints the cancelled row."""
    waiting = start_veo(["submit", "a slow dolly shot", "--request-key", "slow-1", "--wait", "--json"], data)
    job = veo("submit", "a slow dolly shot", "--request-key", "slow-1", "--json", data=data).json()["generation_id"]
    assert veo("cancel", job, data=data).code == 0
    code, out, err = finish(waiting)
    assert code == EXIT_CANCELLED == 4, err
    assert json.loads(out)["status"] == "cancelled"


def test_batch_wait_ends_when_its_jobs_are_cancelled_and_exits_4(data: Path, tmp_path: Path) -> None:
    """A batch whose jobs are all cancelled is done (the progress counts `cancelled`), and exits 4."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a slow tide\na slow moon\n")
    made = veo("batch", str(prompts), "--delay", "0", "--request-key", "tides", "--no-wait", "--json", data=data)
    assert made.code == 0, made.err
    waiting = start_veo(["batch", str(prompts), "--delay", "0", "--request-key", "tides", "--json"], data)
    for job in made.json()["generation_ids"]:
        assert veo("cancel", job, data=data).code == 0
    code, out, err = finish(waiting)
    assert code == EXIT_CANCELLED, err
    assert [row["status"] for row in json.loads(out)] == ["cancelled", "cancelled"]
