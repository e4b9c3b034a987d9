"""The serving benchmark's bootstrap interval of a ratio of latency quantiles, and its verdict."""

from __future__ import annotations

import numpy as np
import pytest

from bench.quantile_interval import ratio_interval, verdict


def lognormal(count: int, seed: int, scale: float = 1.0) -> list[float]:
    return list(scale * np.random.default_rng(seed).lognormal(3.7, 0.2, count))


def test_without_spread_the_interval_is_the_ratio_itself() -> None:
    assert ratio_interval([20.0] * 50, [10.0] * 80) == pytest.approx((2.0, 2.0))


def test_more_answers_narrow_the_interval() -> None:
    few = ratio_interval(lognormal(200, 1, 2.0), lognormal(200, 2))
    many = ratio_interval(lognormal(20_000, 1, 2.0), lognormal(20_000, 2), draws=400)

    assert few[0] < many[0] <= many[1] < few[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 4


def test_the_interval_mostly_covers_the_true_ratio() -> None:
    # Both sides lognormal with the same shape: the true p99 ratio is the scale, 2.
    covered = sum(
        low <= 2.0 <= high
        for low, high in (
            ratio_interval(lognormal(800, seed, 2.0), lognormal(700, 1000 + seed), draws=500)
            for seed in range(40)
        )
    )
    assert covered >= 34  # of 40, for a nominal 95%: a percentile bootstrap of a p99 covers a little less


def test_a_different_quantile_moves_the_interval() -> None:
    numerator = [1.0] * 90 + [50.0] * 10
    denominator = [1.0] * 100

    assert ratio_interval(numerator, denominator, quantile=0.5) == pytest.approx((1.0, 1.0))
    assert ratio_interval(numerator, denominator, quantile=0.99)[0] > 10


VERDICTS = [((1.6, 1.9), "holds"), ((1.8, 2.0), "holds"), ((1.9, 2.3), "undecided"), ((2.01, 2.4), "fails")]


@pytest.mark.parametrize(("interval", "expected"), VERDICTS)
def test_a_verdict_needs_all_the_interval_on_one_side(interval: tuple[float, float], expected: str) -> None:
    assert verdict(interval, 2.0) == expected


@pytest.mark.parametrize(("numerator", "denominator"), [([], [1.0]), ([1.0], [])])
def test_an_empty_side_is_refused(numerator: list[float], denominator: list[float]) -> None:
    with pytest.raises(ValueError, match="samples on both sides"):
        ratio_interval(numerator, denominator)


@pytest.mark.parametrize(("quantile", "confidence"), [(1.0, 0.95), (0.99, 0.0)])
def test_a_quantile_or_confidence_outside_zero_to_one_is_refused(quantile: float, confidence: float) -> None:
    with pytest.raises(ValueError, match=r"must be in \(0, 1\)"):
        ratio_interval([1.0], [1.0], quantile=quantile, confidence=confidence)
