"""How far a ratio of two latency quantiles moves from sampling alone: a bootstrap interval, and the
verdict it allows against a target.

A p99 of 800 answers rests on its 8 slowest, so the serving benchmark's "admitted p99 / unloaded
p99" moves by several percent between two runs of the same code on the same machine, and a target
a few percent away cannot be judged from the value alone. Resampling each phase's own answers
(with replacement, as many as it had) gives the spread its quantile would have from sampling; the
ratio of the two resampled quantiles, taken many times, gives the interval. It says nothing of what
changes between runs besides sampling (the machine's other load), which the benchmark's load average
columns report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DRAWS = 2000
CONFIDENCE = 0.95


def ratio_interval(
    numerator_ms: Sequence[float],
    denominator_ms: Sequence[float],
    *,
    quantile: float = 0.99,
    confidence: float = CONFIDENCE,
    draws: int = DRAWS,
    seed: int = 0,
) -> tuple[float, float]:
    """The central ``confidence`` interval of quantile(numerator) / quantile(denominator) over
    ``draws`` bootstrap resamples of each side; raises ValueError on an empty side or a quantile or
    confidence outside (0, 1)."""
    if not numerator_ms or not denominator_ms:
        raise ValueError("a ratio interval needs samples on both sides")
    if not 0 < quantile < 1 or not 0 < confidence < 1:
        raise ValueError("quantile and confidence must be in (0, 1)")
    generator = np.random.default_rng(seed)
    top = _resampled_quantiles(np.asarray(numerator_ms, dtype=np.float64), quantile, draws, generator)
    bottom = _resampled_quantiles(np.asarray(denominator_ms, dtype=np.float64), quantile, draws, generator)
    tail = (1 - confidence) / 2
    low, high = np.quantile(top / bottom, [tail, 1 - tail])
    return float(low), float(high)


def verdict(interval: tuple[float, float], at_most: float) -> str:
    """ "holds" when the whole interval is at or under ``at_most``, "fails" when all of it is above,
    else "undecided": this run's samples cannot tell."""
    low, high = interval
    if high <= at_most:
        return "holds"
    if low > at_most:
        return "fails"
    return "undecided"


def _resampled_quantiles(
    samples: np.ndarray, quantile: float, draws: int, generator: np.random.Generator
) -> np.ndarray:
    picks = generator.integers(0, len(samples), size=(draws, len(samples)))
    result: np.ndarray = np.quantile(samples[picks], quantile, axis=1)
    return result
