"""Completion-time distributions: smoothing, quantiles, prior, pooling and live observations."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.timing import GENERIC_PRIOR, CompletionModel, Distribution, Key

GEN: Key = ("veo_3_1_t2v_fast", "generation")
UPSCALE: Key = ("veo_3_1_t2v_fast", "upscale")


def uniform_samples(n: int, low: float, high: float, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(n)]


def test_learned_quantiles_match_the_samples() -> None:
    """With 500 samples of U[20, 60] the quartiles land near 30, 40 and 50 s."""
    model = CompletionModel()
    model.load(GEN, uniform_samples(500, 20.0, 60.0))
    assert model.quantile(GEN, 0.25) == pytest.approx(30.0, abs=2.0)
    assert model.quantile(GEN, 0.5) == pytest.approx(40.0, abs=2.0)
    assert model.quantile(GEN, 0.75) == pytest.approx(50.0, abs=2.0)
    assert model.quantile(GEN, 0.01) == pytest.approx(20.0, abs=1.5)


def test_cdf_and_quantile_are_inverse() -> None:
    """cdf(quantile(q)) == q across the range, tail included."""
    model = CompletionModel()
    model.load(GEN, uniform_samples(200, 20.0, 60.0))
    for q in (0.001, 0.01, 0.2, 0.5, 0.9, 0.99, 0.999, 0.99999):
        assert model.cdf(GEN, model.quantile(GEN, q)) == pytest.approx(q, abs=1e-9)


def test_cdf_is_smooth_with_mass_beyond_the_largest_sample() -> None:
    """Between samples the CDF interpolates; past the largest sample some mass remains (finite hazard)."""
    dist = Distribution.from_samples([10.0, 20.0, 30.0])
    assert dist.cdf(15.0) == pytest.approx(0.375)
    assert 0.0 < 1.0 - dist.cdf(30.0) <= 0.25
    assert 0.0 < 1.0 - dist.cdf(45.0) < 1.0 - dist.cdf(30.0)
    assert dist.cdf(0.0) == 0.0


def test_identical_samples_still_give_an_increasing_cdf() -> None:
    """Ties are spread so the knots stay strictly increasing."""
    dist = Distribution.from_samples([5.0] * 20)
    assert all(b > a for a, b in itertools.pairwise(dist.xs))
    assert dist.quantile(0.5) == pytest.approx(5.0, abs=1e-3)


def test_unknown_key_without_any_data_uses_the_generic_prior() -> None:
    """With nothing learned the prior allows a check within about a second yet spans minutes."""
    model = CompletionModel()
    assert model.count(GEN) == 0
    assert 0.5 <= model.quantile(GEN, 0.01) <= 2.0
    assert 10.0 <= model.quantile(GEN, 0.5) <= 120.0
    assert model.quantile(GEN, 0.9) >= 180.0
    assert model.distribution(GEN) is GENERIC_PRIOR


def test_unknown_key_falls_back_to_pooled_data() -> None:
    """A key with no samples borrows every key's pooled samples."""
    model = CompletionModel()
    model.load(GEN, uniform_samples(300, 100.0, 140.0))
    assert model.quantile(UPSCALE, 0.5) == pytest.approx(120.0, abs=3.0)


def test_a_few_samples_dominate_the_prior() -> None:
    """Ten fast simulator jobs move the median from the prior's tens of seconds to a few seconds."""
    model = CompletionModel()
    for d in uniform_samples(10, 1.0, 5.0):
        model.observe(GEN, d)
    assert model.count(GEN) == 10
    assert model.quantile(GEN, 0.5) < 5.0


def test_observe_keeps_only_the_most_recent_window() -> None:
    """Observations beyond the window push out the oldest: a shift in Flow's timing is learned."""
    model = CompletionModel(window=50)
    model.load(GEN, uniform_samples(50, 100.0, 120.0))
    for d in uniform_samples(50, 10.0, 12.0, seed=3):
        model.observe(GEN, d)
    assert model.count(GEN) == 50
    assert model.quantile(GEN, 0.9) < 13.0


def test_load_replaces_a_key_and_rejects_invalid_durations() -> None:
    """load replaces the key's samples; negative or non-finite durations are ignored."""
    model = CompletionModel()
    model.load(GEN, [1.0, 2.0, 3.0])
    model.load(GEN, [10.0, -1.0, math.nan, math.inf, 12.0])
    assert model.count(GEN) == 2
    model.observe(GEN, -5.0)
    assert model.count(GEN) == 2
    assert model.keys() == [GEN]


def test_blend_weights_two_distributions() -> None:
    """A 50/50 blend of two point-like distributions has its median between them."""
    a = Distribution.from_samples([10.0] * 50)
    b = Distribution.from_samples([30.0] * 50)
    mix = a.blend(b, 0.5)
    assert mix.cdf(20.0) == pytest.approx(0.5, abs=0.02)


@given(
    samples=st.lists(st.floats(min_value=0.0, max_value=10_000.0), min_size=1, max_size=60),
    q=st.floats(min_value=0.0, max_value=0.999999),
)
def test_quantile_inverts_cdf_for_any_samples(samples: list[float], q: float) -> None:
    """For any samples, the learned CDF is monotone and quantile is its inverse."""
    model = CompletionModel()
    model.load(GEN, samples)
    t = model.quantile(GEN, q)
    assert math.isfinite(t)
    assert t >= 0.0
    assert model.cdf(GEN, t) == pytest.approx(q, abs=1e-6)
    assert model.cdf(GEN, t + 1.0) >= model.cdf(GEN, t)
