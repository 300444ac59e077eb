"""examples/scripting.py runs as a user would run it, and every job it submits completes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_the_scripting_example_completes_a_prompt_and_a_batch_of_three() -> None:
    """Exit 0; the batch ends at 3/3; the final report lists the four jobs, each completed with a video."""
    done = subprocess.run(
        [sys.executable, "examples/scripting.py"], cwd=ROOT, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    submitted = re.fullmatch(rf"submitted ({UUID}) and batch ({UUID}) \(3 prompts\)", lines[0])
    assert submitted is not None
    assert any(re.search(rf"batch {submitted[2][:8]}  3/3 completed, 0 failed", line) for line in lines)
    assert any(line.startswith("queue status: {") for line in lines)
    report = [line.split() for line in lines[-4:]]
    assert [status for _, status, _ in report] == ["completed"] * 4
    assert report[0][0] == submitted[1]
    assert all(url.startswith("http://127.0.0.1:") and urlsplit(url).path.endswith(".mp4") for _, _, url in report)
