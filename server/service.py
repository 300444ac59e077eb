"""`veo serve`: start the system and the websocket server, announce them, and stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import signal
from collections.abc import Callable

from server.bootstrap import Settings, System
from server.relay_server import RelayServer
from veo_protocol.local_server import (
    PROVIDER_TOKEN_FILE,
    load_or_create_provider_token,
    load_or_create_token,
    narrow_files,
    open_to_others,
    remove_server_info,
    write_server_info,
)

__all__ = ["PortInUse", "exposure_warning", "run_service"]

logger = logging.getLogger(__name__)


class PortInUse(OSError):
    """The address `veo serve` should listen on is taken: says which, and how to choose another."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return (
            f"port {self.port} on {self.host} is already in use (another program, or another veo serve, listens "
            "there); choose another with --port N or VEO_PORT=N (--port 0 takes any free port)"
        )


def exposure_warning(host: str) -> str | None:
    """What listening on `host` exposes, when it is not a loopback address (None when it is)."""
    name = host.strip("[]")
    if name == "localhost":
        return None
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(name).is_loopback:
            return None
    return (
        f"--host {host} is not a loopback address: other machines that can reach it may open the dashboard and "
        "/ws (anyone holding the token can submit, cancel and read every prompt and video link) and read /metrics "
        "and /healthz without one; this server speaks plain HTTP, so the token, prompts and links cross the network "
        "readable: put TLS in front (a reverse proxy serving https/wss, with --allow-host for its name)"
    )


async def run_service(settings: Settings, say: Callable[[str], None], stop: asyncio.Event | None = None) -> int:
    """Run until SIGINT/SIGTERM (or `stop` is set); returns the exit code."""
    system = System(settings)
    for warning in (open_to_others(settings.data_dir), exposure_warning(settings.host)):
        if warning is not None:
            logger.warning("%s", warning)
            system.warnings.append(warning)
    narrow_files(settings.data_dir)
    system.claim_store()  # first: a relay refused (another owns the store) writes nothing, not the token either
    token, new_token = load_or_create_token(settings.data_dir, settings.token)
    provider_token, _ = load_or_create_provider_token(settings.data_dir)
    return await _serve(system, (token, provider_token), new_token, say, stop or asyncio.Event())


async def _listen(server: RelayServer, settings: Settings) -> None:
    """Start listening (PortInUse when the port is taken)."""
    try:
        await server.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise PortInUse(settings.host, settings.port) from None


async def _serve(
    system: System, tokens: tuple[str, str], new_token: bool, say: Callable[[str], None], stop: asyncio.Event
) -> int:
    settings = system.settings
    token, provider_token = tokens
    await asyncio.to_thread(system.start)
    server = RelayServer(
        system,
        host=settings.host,
        port=settings.port,
        token=token,
        allow_origins=settings.allow_origins,
        allow_hosts=settings.allow_hosts,
        provider_token=provider_token,
        client_sessions=settings.client_sessions,
    )
    try:
        await _listen(server, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread: the caller stops us
                break
        write_server_info(settings.data_dir, server.url)
        system.announce(server.url)
        for warning in system.warnings:
            say(f"warning: {warning}")
        say(f"veo-relay listening on {server.url} (websocket {server.url.replace('http', 'ws', 1)}/ws)")
        say(f"data directory: {settings.data_dir}")
        say(f"events: {system.location.description}")
        if system.cluster is not None:
            role = (
                "leads: it calls Flow and the Gemini API"
                if system.cluster.leadership.leading
                else "follows: another node calls them"
            )
            say(f"cluster: this node ({system.cluster.node}) {role}; the lease moves to another node if it dies")
        if system.simulator is not None:
            times = f"{settings.simulator.lo:g}-{settings.simulator.hi:g} s"
            say(f"Flow: built-in simulator at {system.simulator.url} (no --profiles given; videos take {times})")
        elif settings.profiles is None:
            say(f"Flow: {settings.flow_url} with a stand-in profile (no --profiles given; for a simulator)")
        else:
            backends = [getattr(profile, "backend", "flow") for profile in system.commands.profiles.values()]
            kinds = f"{backends.count('flow')} Flow, {backends.count('gemini')} Gemini API"
            say(f"profiles: {len(backends)} from {settings.profiles} ({kinds})")
        say(f"dashboard: {server.url}/#token={token}")
        if new_token:
            say(f"a new client token was generated and saved in {settings.data_dir / 'token'}")
        say(f"provider token (for the browser extension; {settings.data_dir / PROVIDER_TOKEN_FILE}): {provider_token}")
        say("  paste it into the extension's options; it can only provide reCAPTCHA tokens and sessions")
        await stop.wait()
        say("stopping...")
        return 0
    finally:
        remove_server_info(settings.data_dir)
        await server.stop()
        await asyncio.to_thread(system.stop)
