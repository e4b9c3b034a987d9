"""How long a new item would wait for a worker: the estimate latency-aware admission runs on.

Each model's service time is an exponentially weighted mean of its measured engine time per row
(batches run by the pool, warm-up batches included, so a model is known before its first request).
The wait of an item submitted now is found by playing the workers forward: every running batch
ends at its start plus its rows times its model's service time, each queued item (and each item
the API has admitted but not yet queued) goes to the worker that frees first, and the new item
starts when the first worker is free after them. This is Triton's queue policy measured in time
rather than in items: a queue of eight 2 ms items and one of eight 130 ms items are not the same
wait, and the same bound in milliseconds holds for both.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SMOOTHING = 0.2
"""Weight of the newest batch in the mean: a few batches follow a change of load or of model."""


@dataclass(frozen=True, slots=True)
class Running:
    """One batch on one worker: its model's name, its rows and the monotonic instant it started."""

    model: str
    rows: int
    started_at: float


class ServiceTimes:
    """Seconds per row for each model name (all versions together), from measured batches."""

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        self._smoothing = smoothing
        self._per_row: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, model: str, seconds: float, rows: int) -> None:
        if rows < 1 or seconds < 0:
            return
        sample = seconds / rows
        with self._lock:
            previous = self._per_row.get(model)
            self._per_row[model] = (
                sample if previous is None else previous + self._smoothing * (sample - previous)
            )

    def per_row(self, model: str) -> float | None:
        """None until a batch of ``model`` has been measured."""
        return self._per_row.get(model)

    def work(self, model: str, rows: int) -> float:
        """Seconds of worker time ``rows`` rows of ``model`` take; 0 for an unmeasured model."""
        return rows * (self._per_row.get(model) or 0.0)


def expected_wait(
    now: float,
    running: Sequence[Running | None],
    ahead: Iterable[tuple[str, int]],
    times: ServiceTimes,
) -> float:
    """Seconds until a worker would take an item submitted at ``now``.

    ``running`` has one entry per worker (None: idle); ``ahead`` is every (model, rows) that will be
    taken before the new item, in queue order. A batch that has run longer than expected counts as
    ending now: the estimate never invents negative work."""
    free = [
        0.0 if batch is None else max(0.0, batch.started_at + times.work(batch.model, batch.rows) - now)
        for batch in running
    ]
    if not free:
        return 0.0
    heapq.heapify(free)
    for model, rows in ahead:
        heapq.heapreplace(free, free[0] + times.work(model, rows))
    return free[0]
