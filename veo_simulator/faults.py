"""The fault mix: which failures the simulator injects into Flow and Gemini API requests, how often, and the words
each API answers them in."""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from veo_simulator.errors import ApiError, ConfigError

__all__ = [
    "AMBIGUOUS",
    "BEFORE_CREATE",
    "Fault",
    "FaultDraw",
    "FaultMix",
    "FaultPicker",
    "FaultWords",
    "parse_fault_spec",
]

logger = logging.getLogger(__name__)


class Fault(enum.StrEnum):
    """A kind of injected fault; the value is its name in specs and in the audit."""

    E500 = "500"
    E503 = "503"
    E429 = "429"
    TIMEOUT = "timeout"
    MALFORMED = "malformed"
    E401 = "401"
    SLOW = "slow"


# For submissions (generate/upscale, predictLongRunning): answered before anything is created (the answer proves
# nothing was created).
BEFORE_CREATE = frozenset({Fault.E503, Fault.E429, Fault.E401})
# For submissions: the operation is created, then the answer leaves the client in doubt.
AMBIGUOUS = frozenset({Fault.E500, Fault.TIMEOUT, Fault.MALFORMED})


@dataclass(frozen=True)
class FaultWords:
    """How one API answers the injected faults: its own error envelopes, and a submission's answer cut short
    (``malformed`` on a submission: a 200 that names no operation)."""

    unavailable: Callable[[], ApiError]
    """``503``."""
    throttled: Callable[[], ApiError]
    """``429``."""
    internal: Callable[[], ApiError]
    """``500``."""
    truncated_submission: bytes
    """The body of a ``malformed`` 200 to a submission: its real answer cut short before the operation's name."""


@dataclass(frozen=True)
class FaultMix:
    """Probabilities per fault kind; all but ``slow`` exclude each other, ``slow`` is drawn on its own."""

    rates: Mapping[Fault, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for fault, p in self.rates.items():
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"fault probability for {fault.value} must be within [0, 1], got {p}")
        exclusive = sum(p for fault, p in self.rates.items() if fault is not Fault.SLOW)
        if exclusive > 1.0 + 1e-9:
            raise ConfigError(f"fault probabilities other than slow add up to {exclusive:.3f} > 1")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> FaultMix:
        """A mix from ``{"500": 0.05, "timeout": 0.1, ...}`` (names as in the command-line spec)."""
        rates: dict[Fault, float] = {}
        for name, value in raw.items():
            try:
                fault = Fault(str(name).strip().lower())
            except ValueError:
                known = ", ".join(f.value for f in Fault)
                raise ConfigError(f"unknown fault {name!r} (known: {known})") from None
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ConfigError(f"fault probability for {fault.value} must be a number")
            try:
                rates[fault] = float(value)
            except ValueError:
                raise ConfigError(f"fault probability for {fault.value} must be a number") from None
        return cls(rates)

    def as_dict(self) -> dict[str, float]:
        """The mix as ``{name: probability}``."""
        return {fault.value: p for fault, p in self.rates.items()}


def parse_fault_spec(spec: str) -> FaultMix:
    """Parse ``"500=0.05,503=0.05,timeout=0.05,slow=0.1"`` into a mix (empty spec: no faults)."""
    raw: dict[str, object] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"fault spec item {item.strip()!r} must look like NAME=PROBABILITY")
        raw[name.strip()] = value.strip()
    return FaultMix.from_mapping(raw)


@dataclass(frozen=True, slots=True)
class FaultDraw:
    """The faults drawn for one request: at most one failure, and maybe a slow answer."""

    fault: Fault | None = None
    slow: bool = False


class FaultPicker:
    """Draws faults per request from the current mix with a seeded random generator."""

    def __init__(self, mix: FaultMix, rng: random.Random) -> None:
        self.mix = mix
        self._rng = rng

    def draw(self) -> FaultDraw:
        """Pick this request's faults."""
        u = self._rng.random()
        chosen: Fault | None = None
        total = 0.0
        for fault in Fault:
            if fault is Fault.SLOW:
                continue
            total += self.mix.rates.get(fault, 0.0)
            if u < total:
                chosen = fault
                break
        slow_p = self.mix.rates.get(Fault.SLOW, 0.0)
        slow = self._rng.random() < slow_p if slow_p > 0 else False
        return FaultDraw(chosen, slow)

    def slow_delay(self) -> float:
        """How long a slow answer is held back: 0.2 to 1.0 s."""
        return self._rng.uniform(0.2, 1.0)
