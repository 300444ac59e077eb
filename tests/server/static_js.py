"""Running a function of the dashboard's JavaScript modules (server/static) under Node, for unit tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["NEEDS_NODE", "call_each"]

STATIC = Path(__file__).resolve().parents[2] / "server" / "static"
NODE = shutil.which("node")
NEEDS_NODE = pytest.mark.skipif(NODE is None, reason="node is not installed")


def call_each(module: str, function: str, values: list[Any], *extra: str) -> list[Any]:
    """`function(value, ...extra)` of `server/static/<module>` for each value, as JSON (`extra`: JS expressions)."""
    arguments = "".join(f", {argument}" for argument in extra)
    script = (
        f"import {{ {function} }} from {json.dumps((STATIC / module).as_uri())};\n"
        f"process.stdout.write(JSON.stringify({json.dumps(values)}.map((value) => {function}(value{arguments}))));\n"
    )
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script], check=False, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    result: list[Any] = json.loads(done.stdout)
    return result
