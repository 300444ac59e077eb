"""The Flow simulator as one object: start it, point a client at ``url``, read its audit, stop it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from veo_simulator.admin import create_running
from veo_simulator.api import FlowApi
from veo_simulator.config import SimulatorConfig
from veo_simulator.core import SimCore
from veo_simulator.faults import FaultMix
from veo_simulator.httpd import SimHTTPServer
from veo_simulator.persistence import Persister, StateFile
from veo_simulator.state import Clock
from veo_simulator.wire import AdminOperations

__all__ = ["Simulator"]

logger = logging.getLogger(__name__)


class Simulator:
    """A loopback HTTP server imitating Flow's private API (Flow and labs paths), the Gemini API's Veo paths
    (``/v1beta/*``) and ``/_sim/*``.

    ``wall`` (epoch seconds) drives the operations' lifecycle and ``monotonic`` the rate window;
    tests may pass clocks they advance by hand.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        wall: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.config = config or SimulatorConfig()
        self._core = SimCore(self.config, wall, monotonic)
        self._api = FlowApi(self._core)
        self._state_file = StateFile(self.config.state_file) if self.config.state_file else None
        self._persister: Persister | None = None
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        self._port: int | None = None
        self._loaded = False

    def start(self) -> None:
        """Load the state file (first start only), bind the port, serve on a background thread.

        Raises OSError when the port cannot be bound and StateFileError for an unreadable state file.
        """
        with self._lifecycle:
            if self._server is not None:
                return
            if self._state_file is not None and not self._loaded:
                snapshot = self._state_file.load()
                if snapshot is not None:
                    self._core.restore(snapshot)
                    logger.info("simulator state loaded: %d operations", len(snapshot.operations))
                self._loaded = True
            server = SimHTTPServer(self.config.host, self.config.port, self._api.handle)
            if self._state_file is not None:
                self._persister = Persister(
                    self._state_file, self._core.snapshot, self._core.changes, self.config.persist_debounce_s
                )
                self._core.on_change = self._persister.mark_dirty
                self._persister.start()
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulator", daemon=True
            )
            self._server = server
            self._port = server.port
            self._thread.start()
            logger.info("Flow simulator listening on %s", self.url)

    @property
    def port(self) -> int:
        """The bound port (known once started; kept after stop)."""
        if self._port is None:
            raise RuntimeError("the simulator has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: serves the Flow paths, the labs paths, the Gemini API's and ``/_sim/*``."""
        return f"http://{self.config.host}:{self.port}"

    def audit(self) -> dict[str, Any]:
        """The same dict as ``GET /_sim/audit``."""
        return self._core.report()

    def set_faults(self, faults: Mapping[str, float]) -> None:
        """Replace the fault mix (as ``POST /_sim/faults``)."""
        mix = FaultMix.from_mapping(faults)
        with self._core.lock:
            self._core.faults.mix = mix

    def set_account_limits(self, **changes: object) -> None:
        """Change some per-account limits (as ``POST /_sim/accounts``; names of ``AccountLimits`` fields)."""
        with self._core.lock:
            self._core.accounts.limits = self._core.accounts.limits.changed(changes)

    def create_operations(
        self,
        count: int,
        complete_at: Sequence[float] | None = None,
        *,
        lo: float | None = None,
        hi: float | None = None,
        model: str = "veo_3_1_t2v_fast",
        prompt: str = "simulated operation",
        project_id: str = "",
    ) -> list[dict[str, Any]]:
        """Create running operations without submissions (as ``POST /_sim/operations``)."""
        spec = AdminOperations(
            count=count,
            complete_at=list(complete_at) if complete_at is not None else None,
            lo=lo,
            hi=hi,
            model=model,
            prompt=prompt,
            project_id=project_id,
        )
        return create_running(self._core, spec)

    def stop(self) -> None:
        """Stop serving: end held answers, close connections and the socket, join threads, save state."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is not None:
                server.close()
            if thread is not None:
                thread.join()
            if self._persister is not None:
                self._persister.stop()
                self._persister = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
