"""A client that stops reading is closed with 1013 and can resume; the others are not held up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from domain.requests import GenerationSpec
from server.protocol import Generate, Subscribe
from tests.e2e.harness import caught_up, delivered, keys, relay, run, wait_until

CHANNELS = ["generation:status", "batch:progress"]
# RelayServer takes no per-client queue limits, so this overflows the defaults (20,000 frames, 16 MiB):
# 4,000 requests with 9,000-character prompts make about 36 MB of deltas in a few seconds.
REQUESTS = 4_000
PROMPT_PADDING = "x" * 9_000


def test_a_client_that_stops_reading_is_closed_with_1013_while_another_keeps_receiving(tmp_path: Path) -> None:
    """The stalled client gets 1013 after a clean prefix of the stream; resuming after it completes it."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            fast = await target.connect()
            start = (await fast.ok(Subscribe, channels=CHANNELS)).position
            slow = await target.connect(max_queue=1)
            await slow.ok(Subscribe, channels=CHANNELS)
            slow.pause_reading()
            specs = [GenerationSpec(prompt=f"{i} {PROMPT_PADDING}") for i in range(REQUESTS)]
            await asyncio.to_thread(target.system.app.request_batch, specs)
            head = await caught_up(target, fast)
            assert len(fast.deltas) == 2 * REQUESTS and start == 0
            await wait_until(lambda: any(c.closing for c in target.server.clients), what="the slow client's drop")
            slow.resume_reading()
            assert await slow.closed_with() == 1013
            assert not fast.closed
            assert 0 < len(slow.deltas) < len(fast.deltas)
            assert keys(slow.deltas) == keys(fast.deltas)[: len(slow.deltas)]
            again = await target.connect()
            answer = await again.ok(Subscribe, channels=CHANNELS, after=slow.last_position)
            assert answer.data["resumed"] is True
            await delivered(again, head)
            assert keys(slow.deltas + again.deltas) == keys(fast.deltas)
            later = await fast.ok(Generate, prompt="still flowing")
            later_id = later.data["generation_id"]
            await fast.until(lambda: fast.deltas[-1].data.get("id") == later_id, what="a later delta")
            await again.close()
            await fast.close()

    run(scenario())
