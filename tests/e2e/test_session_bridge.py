"""provide_session over the real websocket: a token provider's labs session cookie is what the relay's next
bearer refresh sends to the Flow simulator, it unblocks a profile paused for want of one, only the
profile's own provider may send it, and it never shows up in a log line or in any frame a client gets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from domain.values import TERMINAL_STATUSES
from server.bootstrap import Settings, System
from server.relay_server import RelayServer
from tests.e2e.harness import TOKEN, run, wait_until
from veo_simulator import Simulator, SimulatorConfig

PROVIDER_TOKEN = "e2e-provider-token"
OLD_COOKIE = "old-cookie-from-the-profiles-file"
NEW_COOKIE = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..fresh-SESSION-from-the-browser"
PROFILES = """
[profiles.default]
project_id = "proj-default"
recaptcha = "off"
{credentials}

[profiles.other]
project_id = "proj-other"
bearer_token = "ya29.other"
recaptcha = "off"
"""


def prefix(secret: str) -> str:
    """The simulator's audit names a cookie by its sha256 prefix."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class RawClient:
    """A websocket client that keeps every frame the relay sent it, as received."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str = TOKEN) -> RawClient:
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"}, proxy=None)
        return cls(ws)

    async def ask(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its reply (result or error)."""
        request_id = f"q{next(self._ids)}"
        await self.ws.send(json.dumps({"type": type_, "id": request_id, **fields}))

        def replies() -> list[dict[str, Any]]:
            return [m for f in self.frames if (m := json.loads(f)).get("id") == request_id]

        await wait_until(lambda: bool(replies()), what=f"the reply to {type_}")
        return replies()[0]

    async def _read(self) -> None:
        async for raw in self.ws:
            self.frames.append(str(raw))

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


@contextlib.asynccontextmanager
async def relay(tmp_path: Path, simulator: Simulator, credentials: str) -> AsyncIterator[tuple[System, str]]:
    """`veo serve` with a profiles file (profiles `default` and `other`) whose Flow and labs are the simulator."""
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(PROFILES.format(credentials=credentials))
    profiles.chmod(0o600)
    settings = Settings(
        data_dir=tmp_path / "data", port=0, profiles=profiles, flow_url=simulator.url, labs_url=simulator.url
    )
    system = System(settings)
    try:
        await asyncio.to_thread(system.start)
        server = RelayServer(system, port=0, token=TOKEN, provider_token=PROVIDER_TOKEN)
        await server.start()
        try:
            yield system, f"ws://127.0.0.1:{server.port}/ws"
        finally:
            await server.stop()
    finally:
        await asyncio.to_thread(system.stop)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(lo=0.2, hi=0.4, seed=8)) as sim:
        yield sim


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the run, at debug level."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


def relay_log(caplog: pytest.LogCaptureFixture) -> str:
    """The relay's own log lines (the websockets library's debug trace of raw frames is not the relay's)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets"))


async def provider(url: str, profile_id: str | None) -> RawClient:
    """A fake extension registered as the token provider for `profile_id` (None: every profile)."""
    client = await RawClient.open(url, PROVIDER_TOKEN)
    fields = {"profile_id": profile_id} if profile_id else {}
    reply = await client.ask("register_provider", **fields)
    assert reply["ok"] is True, reply
    return client


async def finished(system: System, client: RawClient, profile_id: str = "default") -> str:
    """Submit one generation and wait for it to end; its status."""
    reply = await client.ask("generate", prompt="a heron", profile_id=profile_id)
    generation_id = reply["data"]["generation_id"]

    def status() -> str | None:
        row = system.history.get(system.db.reader(), generation_id)
        return row.status if row is not None else None

    await wait_until(lambda: status() in TERMINAL_STATUSES, timeout=40, what="the generation to end")
    return str(status())


def test_the_bearer_refresh_sends_the_cookie_the_provider_sent(
    tmp_path: Path, simulator: Simulator, logs: pytest.LogCaptureFixture
) -> None:
    """A profile with an old cookie and no bearer token: its first refresh uses the provider's cookie instead."""

    async def body() -> None:
        async with relay(tmp_path, simulator, f'session_cookie = "{OLD_COOKIE}"') as (system, url):
            extension = await provider(url, "default")
            reply = await extension.ask("provide_session", profile_id="default", session_cookie=NEW_COOKIE)
            assert reply["type"] == "result"
            assert reply["data"] == {"accepted": True}
            watcher = await RawClient.open(url)
            await watcher.ask("subscribe", channels=["generation:status"])
            assert await finished(system, watcher) == "completed"
            assert simulator.audit()["session_cookies_presented"] == [prefix(NEW_COOKIE)]
            frames = extension.frames + watcher.frames
            await extension.close()
            await watcher.close()
        assert not any(NEW_COOKIE in f or OLD_COOKIE in f for f in frames)

    run(body())
    log = relay_log(logs)
    assert "session cookie for profile default updated by provider" in log
    assert NEW_COOKIE not in log
    assert OLD_COOKIE not in log


def test_a_profile_paused_for_want_of_a_cookie_resumes_when_its_provider_sends_one(
    tmp_path: Path, simulator: Simulator, logs: pytest.LogCaptureFixture
) -> None:
    """Flow refuses the bearer token and the profile has no cookie: it pauses; the provider's cookie ends that."""

    async def body() -> None:
        async with relay(tmp_path, simulator, 'bearer_token = "ya29.about-to-expire"') as (system, url):
            simulator.set_faults({"401": 1.0})
            client = await RawClient.open(url)
            submitted = asyncio.create_task(finished(system, client))

            def paused_reason() -> str:
                status = system.poller.last_status
                paused = status.paused_profiles if status is not None else ()
                return " ".join(str(p.reason) for p in paused if p.profile_id == "default")

            await wait_until(lambda: "no session cookie" in paused_reason(), what="the profile to pause")
            simulator.set_faults({})
            extension = await provider(url, "default")
            reply = await extension.ask("provide_session", profile_id="default", session_cookie=NEW_COOKIE)
            assert reply["data"] == {"accepted": True}
            assert await submitted == "completed"  # the simulator expired the old bearer: only a refresh helps
            assert simulator.audit()["session_cookies_presented"] == [prefix(NEW_COOKIE)]
            frames = extension.frames + client.frames
            await extension.close()
            await client.close()
        assert not any(NEW_COOKIE in f for f in frames)

    run(body())
    assert NEW_COOKIE not in relay_log(logs)


def test_only_the_profiles_own_provider_may_send_its_session(
    tmp_path: Path, simulator: Simulator, logs: pytest.LogCaptureFixture
) -> None:
    """Anyone else is refused with a reply naming the problem, and the profile keeps its cookie."""

    async def body() -> None:
        async with relay(tmp_path, simulator, f'session_cookie = "{OLD_COOKIE}"') as (system, url):
            stranger = await RawClient.open(url, PROVIDER_TOKEN)
            catch_all = await provider(url, None)
            other = await provider(url, "other")
            own = await provider(url, "default")
            session = {"profile_id": "default", "session_cookie": NEW_COOKIE}
            refusals = [
                await stranger.ask("provide_session", **session),
                await catch_all.ask("provide_session", **session),
                await other.ask("provide_session", **session),
                await own.ask("provide_session", profile_id="nobody", session_cookie=NEW_COOKIE),
                await own.ask("provide_session", profile_id="default", session_cookie=NEW_COOKIE + " x"),
            ]
            got = [(r["type"], r["code"], r.get("field")) for r in refusals]
            assert got == [
                ("error", "conflict", None),
                ("error", "conflict", None),
                ("error", "bad_message", "profile_id"),
                ("error", "bad_message", "profile_id"),
                ("error", "bad_message", "session_cookie"),
            ]
            assert "register_provider" in refusals[0]["message"]
            assert "every profile" in refusals[1]["message"]
            assert "'other'" in refusals[2]["message"]
            assert "unknown profile 'nobody'" in refusals[3]["message"]
            assert system.commands.profiles["default"].session_cookie == OLD_COOKIE
            clients = (stranger, catch_all, other, own)
            frames = [f for c in clients for f in c.frames]
            for client in clients:
                await client.close()
        assert not any(NEW_COOKIE in f or "fresh-SESSION" in f for f in frames)

    run(body())
    assert "fresh-SESSION" not in relay_log(logs)
