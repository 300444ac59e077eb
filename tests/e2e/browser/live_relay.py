"""A relay for browser tests: System and RelayServer on their own event-loop thread, restartable in place.

The browser is driven from the test's thread with Playwright's sync API, so the server cannot share that
thread's loop. `stop()` then `start()` brings the relay back on the same port and data directory, and the
built-in Flow simulator on its same port with its state file, as a restarted `veo serve` would find a
real Flow that kept working meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from websockets.sync.client import connect

from server.bootstrap import Settings, System
from server.relay_server import RelayServer
from tests.reliability.processes import free_port
from veo_protocol import GetHistory, Request, Result, decode_server_message, encode_request
from veo_simulator import SimulatorConfig

__all__ = ["LiveRelay"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
CALL_TIMEOUT = 30.0


class LiveRelay:
    """One relay on loopback; `url` and `port` stay the same across `stop()`/`start()`."""

    def __init__(self, data_dir: Path, token: str, simulator: SimulatorConfig) -> None:
        self.data_dir = data_dir
        self.token = token
        # Ports below the ephemeral range (see `free_port`): a port the kernel picked for bind(0) may be taken
        # by an outgoing connection while the relay is stopped, and the restart then fails to bind it.
        self.simulator = replace(
            simulator, state_file=data_dir / "flow-simulator.json", port=simulator.port or free_port()
        )
        self.port = free_port()
        self._system: System | None = None
        self._server: RelayServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-relay-loop", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The dashboard's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def system(self) -> System:
        """The running System."""
        if self._system is None:
            raise RuntimeError("the relay is stopped")
        return self._system

    @property
    def running(self) -> bool:
        """Started and not stopped."""
        return self._server is not None

    def start(self) -> None:
        """Start the System and the server (on the same ports every time)."""
        system = System(Settings(data_dir=self.data_dir, port=self.port, simulator=self.simulator))
        system.start()
        self._system = system
        server = RelayServer(system, port=self.port, token=self.token)
        self._call(server.start())
        self._server = server
        self.port = server.port

    def stop(self) -> None:
        """Close every connection (1001) and stop the System."""
        server, system = self._server, self._system
        self._server = self._system = None
        if server is not None:
            self._call(server.stop())
        if system is not None:
            system.stop()

    def close(self) -> None:
        """Stop, then end the loop thread."""
        self.stop()
        self._call(self._loop.shutdown_default_executor())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_TIMEOUT)
        self._loop.close()

    def ask(self, request: Request) -> Result:
        """One request over a fresh websocket connection; its result (an error reply fails the test)."""
        with connect(
            f"ws://127.0.0.1:{self.port}/ws",
            additional_headers={"Authorization": f"Bearer {self.token}"},
            open_timeout=10,
            proxy=None,
        ) as ws:
            ws.send(encode_request(request).decode())
            while True:
                message = decode_server_message(ws.recv(timeout=CALL_TIMEOUT))
                if getattr(message, "id", None) == request.id:
                    assert isinstance(message, Result), message
                    return message

    def rows(self) -> list[dict[str, Any]]:
        """Every row, newest first, as `get_history` gives them (up to 500)."""
        data = self.ask(GetHistory(id="history", limit=500)).data
        return [row for group in data["groups"] for row in group["items"]]

    def history(self) -> list[tuple[str, str]]:
        """(id, status) of every row, newest first, as `get_history` gives them (up to 500)."""
        return [(row["id"], row["status"]) for row in self.rows()]

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT)
