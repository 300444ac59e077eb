"""Fault mix parsing and per-request drawing."""

from __future__ import annotations

import random

import pytest

from veo_simulator.errors import ConfigError
from veo_simulator.faults import Fault, FaultMix, FaultPicker, parse_fault_spec


def test_spec_is_parsed_into_probabilities() -> None:
    """The command-line spec names each fault with its probability."""
    mix = parse_fault_spec("500=0.05, 503=0.05,429=0.05,timeout=0.05,malformed=0.05,401=0.01,slow=0.1")
    assert mix.as_dict() == {
        "500": 0.05,
        "503": 0.05,
        "429": 0.05,
        "timeout": 0.05,
        "malformed": 0.05,
        "401": 0.01,
        "slow": 0.1,
    }


def test_empty_spec_means_no_faults() -> None:
    """No spec, no faults."""
    assert parse_fault_spec("").as_dict() == {}


@pytest.mark.parametrize("spec", ["teapot=0.1", "500", "500=lots", "500=1.5", "500=0.6,503=0.6", "slow=-1"])
def test_bad_specs_are_refused(spec: str) -> None:
    """Unknown names, missing or out-of-range probabilities, and exclusive sums above 1 are errors."""
    with pytest.raises(ConfigError):
        parse_fault_spec(spec)


def test_slow_does_not_count_towards_the_exclusive_sum() -> None:
    """slow is drawn on its own, so 500=1 with slow=1 is valid."""
    assert FaultMix.from_mapping({"500": 1.0, "slow": 1.0}).rates == {Fault.E500: 1.0, Fault.SLOW: 1.0}


def test_mapping_refuses_non_numbers() -> None:
    """JSON mixes must hold numbers."""
    with pytest.raises(ConfigError):
        FaultMix.from_mapping({"500": True})
    with pytest.raises(ConfigError):
        FaultMix.from_mapping({"500": [0.1]})


def test_certain_fault_is_always_drawn_and_absent_one_never() -> None:
    """Probability 1 always, 0 never."""
    picker = FaultPicker(FaultMix.from_mapping({"timeout": 1.0}), random.Random(1))
    assert {picker.draw().fault for _ in range(50)} == {Fault.TIMEOUT}
    quiet = FaultPicker(FaultMix(), random.Random(1))
    assert {(d.fault, d.slow) for d in (quiet.draw() for _ in range(50))} == {(None, False)}


def test_draws_follow_the_probabilities_roughly() -> None:
    """A 30% fault shows up in roughly 30% of draws; slow comes on top of other faults."""
    picker = FaultPicker(FaultMix.from_mapping({"503": 0.3, "slow": 0.5}), random.Random(5))
    draws = [picker.draw() for _ in range(4000)]
    share = sum(d.fault is Fault.E503 for d in draws) / len(draws)
    assert 0.25 < share < 0.35
    assert any(d.slow and d.fault is Fault.E503 for d in draws)
    assert all(0.2 <= picker.slow_delay() <= 1.0 for _ in range(100))
