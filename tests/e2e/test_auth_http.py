"""Who may open `/ws` (token, Origin), and the plain HTTP endpoints on the same port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.harness import Peer, Relay, relay, run, wait_until
from veo_protocol import QueueStatus

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


async def refused(url: str, **options: Any) -> int:
    """The HTTP status with which the handshake was refused (fails when it was accepted)."""
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, proxy=None, open_timeout=30, **options):
            pass
    return caught.value.response.status_code


async def accepted(url: str, **options: Any) -> None:
    """The handshake succeeds and the connection answers a request."""
    peer = await Peer.connect(url, **options)
    await peer.ok(QueueStatus)
    await peer.close()


def bearer(target: Relay, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or target.token}"}


def test_without_the_right_token_the_upgrade_is_refused_with_401(tmp_path: Path) -> None:
    """No token, a wrong bearer token or a wrong `?token=` get HTTP 401 before any websocket exists."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            assert await refused(target.ws_url) == 401
            assert await refused(target.ws_url, additional_headers=bearer(target, "wrong")) == 401
            assert await refused(f"{target.ws_url}?token=wrong") == 401
            assert await refused(target.ws_url, additional_headers={"Authorization": target.token}) == 401
            assert target.server.clients == set()

    run(scenario())


def test_the_token_as_header_or_query_without_origin_is_accepted(tmp_path: Path) -> None:
    """Scripts send no Origin: the token alone is enough, in the Authorization header or the query."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            await accepted(target.ws_url, additional_headers=bearer(target))
            await accepted(f"{target.ws_url}?token={target.token}")

    run(scenario())


def test_a_browser_origin_must_be_the_servers_own_or_allowed(tmp_path: Path) -> None:
    """A foreign Origin gets 403 even with the token; the server's own and `--allow-origin` ones pass."""

    async def scenario() -> None:
        async with relay(tmp_path, allow_origins=[EXTENSION]) as target:
            headers = bearer(target)
            assert await refused(target.ws_url, origin="http://evil.example", additional_headers=headers) == 403
            assert await refused(target.ws_url, origin="null", additional_headers=headers) == 403
            assert await refused(target.ws_url, origin="http://evil.example") == 403
            await accepted(target.ws_url, origin=target.http_url, additional_headers=headers)
            await accepted(target.ws_url, origin=f"http://localhost:{target.server.port}", additional_headers=headers)
            await accepted(target.ws_url, origin=EXTENSION, additional_headers=headers)
            assert await refused(target.ws_url, origin=target.http_url) == 401

    run(scenario())


def test_healthz_and_metrics_answer_over_plain_http(tmp_path: Path) -> None:
    """`/healthz` says ok; `/metrics` is Prometheus text counting the open websocket connections."""

    async def scenario() -> None:
        async with relay(tmp_path) as target, httpx.AsyncClient(base_url=target.http_url, trust_env=False) as http:
            health = await http.get("/healthz")
            assert (health.status_code, health.text) == (200, "ok\n")
            peer = await target.connect()
            await peer.ok(QueueStatus)
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
            samples = dict(
                line.split(" ", 1) for line in metrics.text.splitlines() if line and not line.startswith("#")
            )
            assert float(samples["veo_connected_clients"]) == 1
            for name in ("veo_queue_depth", "veo_projection_lag_events", "veo_flow_budget_rate"):
                assert name in samples
                assert f"# TYPE {name} " in metrics.text
            await peer.close()
            missing = await http.get("/no-such-page")
            assert missing.status_code == 404

    run(scenario())


def test_beyond_the_most_open_connections_an_upgrade_is_refused_with_503(tmp_path: Path) -> None:
    """With the cap reached, a further client gets 503 and a text saying why; a closed one makes room again."""

    async def scenario() -> None:
        async with relay(tmp_path, max_connections=2) as target:
            first, second = await target.connect(), await target.connect()
            await first.ok(QueueStatus)
            await second.ok(QueueStatus)
            with pytest.raises(InvalidStatus) as caught:
                async with connect(target.ws_url, proxy=None, open_timeout=5, additional_headers=bearer(target)):
                    pass
            response = caught.value.response
            assert response.status_code == 503
            assert b"maximum of 2 open connections" in response.body
            await second.close()
            await wait_until(lambda: len(target.server.clients) == 1, what="the closed connection to go")
            await accepted(target.ws_url, additional_headers=bearer(target))
            await first.close()

    run(scenario())
