"""`get_status` has its own small pool: it is answered while long reads and commands hold every other thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from domain.requests import GenerationSpec
from server.protocol import GetStatus
from tests.e2e.harness import relay, run


def test_get_status_is_answered_while_the_shared_pool_is_busy(tmp_path: Path) -> None:
    """Every thread of the loop's shared pool is blocked: a get_status still gets its row."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            made, _ = target.system.app.request_generation(GenerationSpec(prompt="a lighthouse"))
            await target.settled()
            peer = await target.connect()
            release = threading.Event()
            blockers = [asyncio.create_task(asyncio.to_thread(release.wait, 30)) for _ in range(40)]
            try:
                answer = await asyncio.wait_for(peer.ok(GetStatus, generation_id=str(made)), 5.0)
                assert answer.data["id"] == str(made)
                assert not any(b.done() for b in blockers)  # the shared pool was still held throughout
            finally:
                release.set()
                await asyncio.gather(*blockers)
                await peer.close()

    run(scenario())
