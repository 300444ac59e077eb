"""The simulator's exceptions.

SimulatorError            base of everything the simulator raises on purpose
 +-- ConfigError          a bad setting (fault spec, contract, lo > hi, ...)
 +-- StateFileError       the ``--state`` file cannot be read or written
 +-- ApiError             an HTTP error answer in Google's RPC envelope; raised inside request
                          handling and turned into a response, it never leaves the HTTP layer

Messages never contain bearer tokens, cookies or reCAPTCHA tokens.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["ApiError", "ConfigError", "SimulatorError", "StateFileError"]

logger = logging.getLogger(__name__)


class SimulatorError(Exception):
    """Base of the simulator's own exceptions."""


class ConfigError(SimulatorError):
    """A simulator setting is invalid."""


class StateFileError(SimulatorError):
    """The state file could not be loaded or saved."""


class ApiError(SimulatorError):
    """An error answer: HTTP status, Google RPC status name, message and ErrorInfo reason.

    ``details`` replaces the one ErrorInfo made from ``reason`` (the Gemini API's answers carry their own).
    """

    def __init__(
        self,
        http_status: int,
        rpc_status: str,
        message: str,
        reason: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        details: tuple[dict[str, Any], ...] = (),
    ) -> None:
        super().__init__(f"{http_status} {rpc_status}: {message}")
        self.http_status = http_status
        self.rpc_status = rpc_status
        self.message = message
        self.reason = reason
        self.headers = headers
        self.details = details
