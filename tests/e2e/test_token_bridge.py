"""The reCAPTCHA token bridge over the real websocket: waiting without a provider, proceeding when one
connects, a provider dropping mid-request, and rejected tokens (the simulator requires single-use tokens)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from domain.requests import GenerationSpec
from tests.e2e.harness import Relay, relay, run, wait_until
from veo_simulator import SimulatorConfig

CAPTCHA_JOBS = SimulatorConfig(lo=0.3, hi=0.6, seed=4, require_captcha=True)


class Provider:
    """A fake browser extension: registers, answers each captcha_request with `mint()`, or hangs up."""

    def __init__(self, ws: ClientConnection, mint: Callable[[], str], hang_up_on_request: bool = False) -> None:
        self.ws = ws
        self.mint = mint
        self.hang_up_on_request = hang_up_on_request
        self.requests: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._serve())

    @classmethod
    async def start(cls, target: Relay, mint: Callable[[], str], hang_up_on_request: bool = False) -> Provider:
        ws = await connect(target.ws_url, additional_headers={"Authorization": f"Bearer {target.token}"}, proxy=None)
        await ws.send(json.dumps({"type": "register_provider", "id": "reg", "profile_id": "default"}))
        reply = json.loads(await ws.recv())
        assert reply["ok"] is True, reply
        assert reply["data"]["provider_id"]
        return cls(ws, mint, hang_up_on_request)

    async def _serve(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message["type"] == "captcha_request":
                self.requests.append(message)
                if self.hang_up_on_request:
                    await self.ws.close()
                    return
                answer = {
                    "type": "provide_captcha_token",
                    "id": f"a{len(self.requests)}",
                    "request_id": message["request_id"],
                    "token": self.mint(),
                }
                await self.ws.send(json.dumps(answer))
            elif message["type"] == "result" and message["id"].startswith("a"):
                self.answers.append(message)

    async def close(self) -> None:
        await self.ws.close()
        await self.task


def fresh_tokens() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"token-{next(counter)}"


def submit(target: Relay, prompt: str = "a fox") -> str:
    gid, _ = target.system.app.request_generation(GenerationSpec(prompt=prompt))
    target.system.poller.enqueue([gid])
    return str(gid)


def status(target: Relay, gid: str) -> str | None:
    row = target.system.history.get(target.system.db.reader(), gid)
    return row.status if row is not None else None


def test_without_a_provider_submissions_wait_without_spending_budget(tmp_path: Path) -> None:
    """Nothing is sent to Flow and queue_status says why; a provider connecting lets the job through."""

    async def body() -> None:
        async with relay(tmp_path, simulator=CAPTCHA_JOBS) as target:
            gid = submit(target)
            await wait_until(lambda: getattr(target.system.poller.last_status, "waiting_token", 0) == 1, what="waiting")
            queue = await asyncio.to_thread(target.system.poller.queue_status)
            assert (queue.waiting_token, queue.providers, queue.submitting) == (1, 0, 0)
            assert target.system.simulator is not None
            assert target.system.simulator.audit()["generate_attempts_per_scene"] == {}
            provider = await Provider.start(target, fresh_tokens())
            await wait_until(lambda: status(target, gid) == "completed", what="completion")
            assert len(provider.requests) == 1
            audit = target.system.simulator.audit()
            used = hashlib.sha256(b"token-1").hexdigest()[:12]
            assert list(audit["captcha_token_by_scene"].values()) == [[used]]
            await provider.close()

    run(body())


def test_a_provider_hanging_up_mid_request_hands_it_to_another(tmp_path: Path) -> None:
    """The request goes to the remaining provider and the job completes."""

    async def body() -> None:
        async with relay(tmp_path, simulator=CAPTCHA_JOBS) as target:
            quitter = await Provider.start(target, fresh_tokens(), hang_up_on_request=True)
            steady = await Provider.start(target, fresh_tokens())
            gids = [submit(target, f"p{i}") for i in range(3)]
            await wait_until(lambda: all(status(target, g) == "completed" for g in gids), what="completion")
            assert len(quitter.requests) == 1
            assert len(steady.requests) == 3
            await steady.close()

    run(body())


@pytest.mark.usefixtures("short_pauses")
def test_a_rejected_token_is_replaced_by_a_fresh_one(tmp_path: Path) -> None:
    """Flow refuses a reused token; the relay asks again and the job completes, sent once per token."""

    async def body() -> None:
        async with relay(tmp_path, simulator=CAPTCHA_JOBS) as target:
            tokens = iter(["same", "same", "fresh-1", "fresh-2"])
            provider = await Provider.start(target, lambda: next(tokens))
            first, second = submit(target, "first"), submit(target, "second")
            await wait_until(lambda: {status(target, first), status(target, second)} == {"completed"}, what="done")
            assert len(provider.requests) == 3
            assert target.system.simulator is not None
            assert target.system.simulator.audit()["duplicate_scene_ids"] == []
            await provider.close()

    run(body())


@pytest.mark.usefixtures("short_pauses")
def test_tokens_that_keep_failing_end_in_captcha_rejected(tmp_path: Path) -> None:
    """After repeated rejections the job fails with a clear reason instead of hammering Flow."""

    async def body() -> None:
        async with relay(tmp_path, simulator=CAPTCHA_JOBS) as target:
            warm = submit(target, "warm-up")
            provider = await Provider.start(target, lambda: "always-the-same")
            await wait_until(lambda: status(target, warm) == "completed", what="the first use of the token")
            gid = submit(target, "doomed")
            await wait_until(lambda: status(target, gid) == "failed", timeout=30, what="the failure")
            row = target.system.history.get(target.system.db.reader(), gid)
            assert row is not None
            assert row.error_reason == "captcha_rejected"
            await provider.close()

    run(body())
