"""The default wait budget of latency-aware admission, adapted to the load: how much of one item's
service time an admitted request may wait for a worker.

A fixed budget of one item's time keeps the workers busy when refused clients go away for the whole
second Retry-After asks (a closed loop of clients that honour it), but under a stream of arrivals
that never stops (an open loop) every opening is taken at once, so every admitted request waits the
whole budget, and its latency tail adds the estimate's own error and the engine's. Queue delay is
only worth having while it keeps workers busy, so the budget follows the demand and the workers:
each window in which at least as many requests were refused as admitted (arrivals at twice the rate
the workers serve, or more, which refill a shorter queue before it drains), it shrinks while the
workers had no idle time to speak of, and otherwise grows back (refused clients that honour
Retry-After are gone for a second, and a short queue would run dry without them); a window without
refusals, or with a tenth of the workers' time idle, or after a lull restores it whole. This is
CoDel's reasoning (standing queue delay buys nothing) with Netflix concurrency-limits' feedback,
measured in worker idle time and refusals rather than in latency, which the estimate's error would
blur.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WINDOW_S = 0.5
"""How often the budget moves: some twenty items of a 40 ms model on two workers."""

SMALLEST = 0.25
"""Least share of one item's time the budget goes down to: a request arriving while a worker is
about to free still gets in, so the queue rarely runs dry between arrivals."""

IDLE_SHARE = 0.02
"""Share of the workers' time idle in a window above which refusing was too eager."""

IDLE_RESTORES = 0.10
"""Share of the workers' time idle in a window that restores the whole item at once: refusals
that idle a tenth of the workers are far too eager (a burst after a lull, a new client mix)."""

SHRINK = 0.85
GROW = 1.25


class WaitBudget:
    """The budget as a share of one item's service time, 0 < share <= 1, moved once per window.

    ``idle`` gives the workers' idle seconds summed over them since they started, and how many there
    are (``InferenceBackend.worker_idle_s``)."""

    def __init__(
        self, idle: Callable[[], tuple[float, int]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle = idle
        self._clock = clock
        self._share = 1.0
        self._refused = 0
        self._admitted = 0
        self._window_start = clock()
        self._idle_at_start = idle()[0]

    def share(self) -> float:
        """The share of one item's time a request may wait now; moves it when a window has ended."""
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed >= WINDOW_S:
            idle_s, workers = self._idle()
            idle_share = max(0.0, idle_s - self._idle_at_start) / (elapsed * max(workers, 1))
            if self._refused == 0 or idle_share > IDLE_RESTORES or elapsed > 2 * WINDOW_S:
                # Nothing refused, far too eager, or no request for a while: the budget starts whole.
                self._share = 1.0
            elif self._refused >= self._admitted and idle_share <= IDLE_SHARE:
                self._share = max(SMALLEST, self._share * SHRINK)
            else:
                self._share = min(1.0, self._share * GROW)
            self._refused = self._admitted = 0
            self._window_start, self._idle_at_start = now, idle_s
        return self._share

    @property
    def current(self) -> float:
        """The share as last moved, without moving it."""
        return self._share

    def refused(self) -> None:
        """Count one request refused for its wait in the current window."""
        self._refused += 1

    def admitted(self) -> None:
        """Count one request admitted against the budget in the current window."""
        self._admitted += 1
