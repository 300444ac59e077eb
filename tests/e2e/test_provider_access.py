"""The provider token and the `register_provider` challenge-response, over the real websocket: a provider
connection may only provide, a connection without a token only prove, and the client token provides sessions
only where the user allowed it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.e2e.harness import TOKEN, relay, run
from veo_protocol.provider_proof import new_nonce, provider_proof, relay_proof

PROVIDER_TOKEN = "e2e-provider-token-for-the-extension"
SESSION = {"profile_id": "default", "session_cookie": "eyJ.a-session-cookie"}


async def ask(ws: ClientConnection, type_: str, **fields: Any) -> dict[str, Any]:
    """Send one request; its reply (pushed frames in between are skipped)."""
    request_id = uuid.uuid4().hex
    await ws.send(json.dumps({"type": type_, "id": request_id, **fields}))
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message.get("id") == request_id:
            return message


def opened(url: str, token: str | None = None, query: str = "") -> Any:
    """A websocket connection with `token` as bearer (or none) and `query` added to the URL."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(url + query, additional_headers=headers, proxy=None, open_timeout=10)


def refused_as_provider(reply: dict[str, Any]) -> bool:
    return reply.get("code") == "bad_message" and reply.get("field") == "type" and "only provides" in reply["message"]


def test_the_provider_token_only_provides(tmp_path: Path) -> None:
    """It registers and answers with tokens and sessions; submitting, cancelling and reading are refused."""

    async def body() -> None:
        async with relay(tmp_path, provider_token=PROVIDER_TOKEN) as r, opened(r.ws_url, PROVIDER_TOKEN) as ws:
            some_id = str(uuid.uuid4())
            refusals = [
                await ask(ws, "generate", prompt="a heron"),
                await ask(ws, "batch_generate", prompts=["a heron"]),
                await ask(ws, "cancel", generation_id=some_id),
                await ask(ws, "get_status", generation_id=some_id),
                await ask(ws, "get_history"),
                await ask(ws, "subscribe", channels=["generation:status"]),
                await ask(ws, "queue_status"),
                await ask(ws, "get_provider_token"),
            ]
            assert all(refused_as_provider(reply) for reply in refusals), refusals
            registered = await ask(ws, "register_provider", profile_id="default")
            assert registered["ok"] is True and registered["data"]["providers"] == 1
            answered = await ask(ws, "provide_captcha_token", request_id="captcha-none", token="t")
            assert answered["data"] == {"accepted": False}
            session = await ask(ws, "provide_session", **SESSION)
            assert session["data"] == {"accepted": True}

    run(body())


@pytest.mark.parametrize("allowed", [False, True])
def test_the_client_token_provides_sessions_only_when_allowed(tmp_path: Path, allowed: bool) -> None:
    """Without --client-sessions the client token still registers and provides tokens, but not sessions."""

    async def body() -> None:
        async with relay(tmp_path, provider_token=PROVIDER_TOKEN, client_sessions=allowed) as r:
            async with opened(r.ws_url, TOKEN) as ws:
                assert (await ask(ws, "register_provider", profile_id="default"))["ok"] is True
                answered = await ask(ws, "provide_captcha_token", request_id="captcha-none", token="t")
                assert answered["data"] == {"accepted": False}
                session = await ask(ws, "provide_session", **SESSION)
                shown = await ask(ws, "get_provider_token")
            assert shown["data"] == {"provider_token": PROVIDER_TOKEN}
            if allowed:
                assert session["data"] == {"accepted": True}
            else:
                assert (session["code"], session.get("field")) == ("conflict", None)
                assert "--client-sessions" in session["message"]

    run(body())


def test_a_connection_without_a_token_must_prove_it_knows_the_provider_token(tmp_path: Path) -> None:
    """The relay proves first (its proof checks out against the provider token); a wrong proof, a replayed
    one or none registers nothing; the right one makes a provider connection, which still only provides."""

    async def body() -> None:
        async with relay(tmp_path, provider_token=PROVIDER_TOKEN) as r, opened(r.ws_url, query="?provider=proof") as ws:
            host = f"127.0.0.1:{r.server.port}"
            before = [
                await ask(ws, "queue_status"),
                await ask(ws, "register_provider"),
                await ask(ws, "provide_session", **SESSION),
            ]
            assert [reply["code"] for reply in before] == ["bad_message"] * 3
            nonce = new_nonce()
            challenge = (await ask(ws, "register_provider", nonce=nonce))["data"]
            assert set(challenge) == {"relay_nonce", "relay_proof"}  # nothing about the relay before the proof
            assert challenge["relay_proof"] == relay_proof(PROVIDER_TOKEN, host, nonce, challenge["relay_nonce"])
            assert challenge["relay_proof"] != relay_proof("another token", host, nonce, challenge["relay_nonce"])
            forged = provider_proof("a guessed token", host, nonce, challenge["relay_nonce"])
            wrong = await ask(ws, "register_provider", nonce=nonce, relay_nonce=challenge["relay_nonce"], proof=forged)
            assert (wrong["code"], wrong["field"]) == ("bad_message", "proof")
            right = provider_proof(PROVIDER_TOKEN, host, nonce, challenge["relay_nonce"])
            replayed = await ask(
                ws, "register_provider", nonce=nonce, relay_nonce=challenge["relay_nonce"], proof=right
            )
            assert (replayed["code"], replayed["field"]) == ("bad_message", "relay_nonce")  # one proof per challenge
            assert r.system.commands.tokens.providers() == 0
            challenge = (await ask(ws, "register_provider", nonce=nonce))["data"]
            right = provider_proof(PROVIDER_TOKEN, host, nonce, challenge["relay_nonce"])
            fields = {"nonce": nonce, "relay_nonce": challenge["relay_nonce"], "proof": right, "profile_id": "default"}
            registered = await ask(ws, "register_provider", **fields)
            assert registered["ok"] is True and registered["data"]["providers"] == 1
            assert (await ask(ws, "provide_session", **SESSION))["data"] == {"accepted": True}
            assert refused_as_provider(await ask(ws, "get_history"))
            keepalive = (await ask(ws, "register_provider", nonce=new_nonce()))["data"]
            assert keepalive["providers"] == 1  # a challenge on a proven connection re-registers nothing

    run(body())


def test_a_wrong_token_is_refused_at_the_upgrade_even_with_the_proof_marker(tmp_path: Path) -> None:
    """`?provider=proof` opens without a token, not with a wrong one; no token and no marker stays a 401."""

    async def body() -> None:
        async with relay(tmp_path, provider_token=PROVIDER_TOKEN) as r:
            for token, query in (("not-a-token", "?provider=proof"), (None, ""), (None, "?provider=yes")):
                with pytest.raises(InvalidStatus) as refused:
                    async with opened(r.ws_url, token, query):
                        pass
                assert refused.value.response.status_code == 401

    run(body())
