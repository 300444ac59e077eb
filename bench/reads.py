"""What each read costs a client: round trips per request type against a real `veo serve` on a long history.

The store is seeded as `bench/hostile.py` seeds it (`seeding.seed_finished`: 2,000 finished generations
of 4,000-character prompts); one client sends each request type `--repeat` times, one after another, and
prints the median and p90 round trip and the reply's size. Baseline in the same run: a frame the server
refuses at once (`bad_message`, no read at all), the floor of any round trip on this machine.

    .venv/bin/python bench/reads.py
    .venv/bin/python bench/reads.py --repeat 50 --seed-jobs 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the relay process helper lives in tests/reliability

from seeding import seed_finished

from tests.reliability.processes import KillableRelay, free_port

SEED_JOBS = 2000
SEED_PROMPT_CHARS = 4000


def requests(known: str) -> list[tuple[str, dict[str, Any]]]:
    """The request types timed, with their fields; the first is the baseline."""
    return [
        ("baseline: refused frame", {"type": "get_status"}),
        ("get_status", {"type": "get_status", "generation_id": known}),
        ("get_statuses (3)", {"type": "get_statuses", "generation_ids": [known] * 3}),
        ("get_history (50)", {"type": "get_history", "limit": 50}),
        ("get_history (500)", {"type": "get_history", "limit": 500}),
        ("get_analytics all", {"type": "get_analytics", "window": "all"}),
        ("get_analytics 1h", {"type": "get_analytics", "window": "1h"}),
        ("queue_status", {"type": "queue_status"}),
    ]


async def timed(ws: ClientConnection, message: dict[str, Any], repeat: int) -> tuple[list[float], int]:
    """Round trips (ms) of `message` sent `repeat` times in turn, and the last reply's size in bytes."""
    samples, size = [], 0
    for index in range(repeat):
        request_id = f"r{index}"
        began = time.perf_counter()
        await ws.send(json.dumps({**message, "id": request_id}))
        while True:
            reply = await ws.recv()
            if json.loads(reply).get("id") == request_id:
                break
        samples.append((time.perf_counter() - began) * 1000)
        size = len(reply)
    return samples, size


async def measure(url: str, token: str, known: str, repeat: int) -> None:
    """Time every request type and print a line each."""
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, max_size=None, compression=None, proxy=None) as ws:
        print(f"{'request':24} {'median ms':>10} {'p90 ms':>8} {'reply bytes':>12}")
        floor = None
        for name, message in requests(known):
            samples, size = await timed(ws, message, repeat)
            median = statistics.median(samples)
            p90 = statistics.quantiles(samples, n=10, method="inclusive")[8]
            floor = floor or median
            print(f"{name:24} {median:10.2f} {p90:8.2f} {size:12,}  (x{median / floor:.1f} the baseline)")


def main(argv: Sequence[str] | None = None) -> int:
    """Seed, serve, measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=20, help="round trips per request type (20)")
    parser.add_argument("--seed-jobs", type=int, default=SEED_JOBS, help=f"history recorded first ({SEED_JOBS})")
    args = parser.parse_args(argv)
    print(
        f"reads bench on {platform.node()}: {platform.machine()}, Python {platform.python_version()}; "
        f"{args.seed_jobs} generations of {SEED_PROMPT_CHARS}-character prompts, {args.repeat} round trips each"
    )
    with tempfile.TemporaryDirectory(prefix="veo-reads-") as scratch:
        data = Path(scratch) / "relay"
        known = str(seed_finished(data, args.seed_jobs, SEED_PROMPT_CHARS, random.Random(1)))
        relay = KillableRelay(data, free_port(), ["--simulator-times", "0.3,0.8"])
        try:
            relay.start()
            asyncio.run(measure(relay.url.replace("http", "ws", 1) + "/ws", relay.token, known, args.repeat))
            relay.stop()
        finally:
            relay.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
