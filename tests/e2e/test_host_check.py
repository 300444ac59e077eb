"""DNS rebinding: a request whose `Host` is not one of this server's names is refused on every route."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from server.bootstrap import Settings
from server.host_check import HostCheck, split_host
from tests.e2e.harness import Relay, relay, run
from veo_cli import serve as serve_module

ROUTES = ["/", "/index.html", "/app.js", "/healthz", "/metrics", "/ws", "/no-such-page"]


async def upgrade_status(target: Relay, host: str) -> tuple[int, str]:
    """The status line and body a websocket upgrade with the right token and the given Host gets."""
    reader, writer = await asyncio.open_connection("127.0.0.1", target.server.port)
    writer.write(
        (
            f"GET /ws?token={target.token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status = int(head.split(" ", 2)[1])
    body = b""
    if status != 101:
        length = next(
            int(line.split(":")[1]) for line in head.splitlines() if line.lower().startswith("content-length")
        )
        body = await reader.readexactly(length)
    writer.close()
    return status, body.decode()


def test_a_forged_host_is_refused_on_every_route(tmp_path: Path) -> None:
    """A rebinding page's requests carry its own name: 421 with a text that says why, and nothing else."""

    async def scenario() -> None:
        async with relay(tmp_path) as target, httpx.AsyncClient(base_url=target.http_url, trust_env=False) as http:
            port = target.server.port
            for host in (f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "localhost:1", "localhost"):
                for route in ROUTES:
                    answer = await http.get(route, headers={"Host": host})
                    assert answer.status_code == 421, (host, route)
                    assert "is not a name of this server" in answer.text
                    assert "veo_" not in answer.text
                status, body = await upgrade_status(target, host)
                assert status == 421
                assert "--allow-host" in body
            assert (await upgrade_status(target, f"localhost:{port}"))[0] == 101
            assert (await upgrade_status(target, "user@localhost"))[0] == 400
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST.:{port}"):
                assert (await http.get("/healthz", headers={"Host": host})).status_code == 200

    run(scenario())


def test_names_given_by_allow_host_are_answered(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            relay(tmp_path, allow_hosts=["relay.lan"]) as target,
            httpx.AsyncClient(base_url=target.http_url, trust_env=False) as http,
        ):
            port = target.server.port
            assert (await http.get("/metrics", headers={"Host": f"relay.lan:{port}"})).status_code == 200
            assert (await upgrade_status(target, f"relay.lan:{port}"))[0] == 101
            assert (await http.get("/metrics", headers={"Host": f"other.lan:{port}"})).status_code == 421

    run(scenario())


@pytest.mark.parametrize(
    ("bind", "host", "allowed"),
    [
        ("127.0.0.1", "[::1]:8765", True),
        ("127.0.0.1", "192.168.1.5:8765", False),
        ("0.0.0.0", "192.168.1.5:8765", True),
        ("0.0.0.0", "box.lan:8765", False),
        ("::", "[fe80::1]:8765", True),
        ("192.168.1.5", "192.168.1.5:8765", True),
        ("127.0.0.1", "127.0.0.1:8765:1", False),
        ("127.0.0.1", "127.0.0.1:8765/x", False),
    ],
)
def test_host_values(bind: str, host: str, allowed: bool) -> None:
    assert (HostCheck(bind, lambda: 8765).refusal(host) is None) is allowed


def test_split_host() -> None:
    assert split_host("[::1]:80") == ("::1", 80)
    assert split_host("Example.COM.") == ("example.com", None)
    assert split_host("a:b") is None


def test_allow_host_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--allow-host NAME` (repeatable) or `VEO_ALLOW_HOSTS` (comma-separated); the flag wins."""
    seen: list[Settings] = []

    async def keep(settings: Settings, echo: Callable[..., Any]) -> int:
        seen.append(settings)
        return 0

    monkeypatch.setattr(serve_module, "run_service", keep)
    data = ["--data", str(tmp_path)]
    env = {"VEO_ALLOW_HOSTS": "a.lan, b.lan"}
    assert CliRunner().invoke(serve_module.serve, data, env=env).exit_code == 0
    assert CliRunner().invoke(serve_module.serve, [*data, "--allow-host", "c.lan"], env=env).exit_code == 0
    assert [s.allow_hosts for s in seen] == [("a.lan", "b.lan"), ("c.lan",)]
