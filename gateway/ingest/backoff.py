"""Exponential backoff with full jitter, so cameras that fail together do not retry in lockstep."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, minimum_s: float, maximum_s: float, rng: random.Random | None = None) -> None:
        if minimum_s <= 0 or maximum_s < minimum_s:
            raise ValueError("backoff needs 0 < minimum_s <= maximum_s")
        self.minimum_s = minimum_s
        self.maximum_s = maximum_s
        self._attempt = 0
        self._rng = rng if rng is not None else random.Random()

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        """Delay before the next attempt: uniform in [minimum, min(maximum, minimum * 2**attempt)]."""
        ceiling = min(self.maximum_s, self.minimum_s * (2 ** min(self._attempt, 32)))
        self._attempt += 1
        return self._rng.uniform(self.minimum_s, ceiling)

    def reset(self) -> None:
        self._attempt = 0
