"""A loopback imitation of Google Flow's private video API, for tests, benchmarks and `veo serve`."""

from __future__ import annotations

import logging

from server.simulator.app import Simulator
from server.simulator.cli import main
from server.simulator.config import Contract, SimulatorConfig
from server.simulator.errors import ApiError, ConfigError, SimulatorError, StateFileError

__all__ = [
    "ApiError",
    "ConfigError",
    "Contract",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "StateFileError",
    "main",
]

logger = logging.getLogger(__name__)
