"""Loaded by `veo serve` when `bench/hostile.py --breakdown` puts this directory on its PYTHONPATH."""

import os
import sys
from pathlib import Path

if os.environ.get("BENCH_BREAKDOWN_DIR") and "serve" in sys.argv:
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # bench/, last: it shadows nothing installed
    from breakdown_hooks.loop_hooks import install

    install(Path(os.environ["BENCH_BREAKDOWN_DIR"]) / f"server-{os.getpid()}.jsonl")
