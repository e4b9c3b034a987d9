"""How long a new item would wait for a worker: the estimate latency-aware admission runs on.

Each model's service time is an exponentially weighted mean of its measured engine time per row
(batches run by the pool, warm-up batches included, so a model is known before its first request),
kept for the model as a whole and for each input shape it ran: a model with dynamic height and width
costs four times as much per 640x640 camera frame as per 320x320 client tensor, and a queue of either
is counted at its own price. What has no shape yet (a request admitted whose body is still arriving,
the request being admitted) is counted at the model's mean over every shape.
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

SHAPES_KEPT = 64
"""Shapes priced at once, all models together: a client sending ever new sizes to a model with
dynamic dimensions must not grow the table; the shape measured longest ago goes first."""

Shape = tuple[tuple[str, tuple[int, ...], str], ...]
"""(input name, dimensions after the batch one, type) of every input of an item or a batch."""


@dataclass(frozen=True, slots=True)
class Running:
    """One batch on one worker: its model's name, its rows, the monotonic instant it started and
    its inputs' shape (None: not known)."""

    model: str
    rows: int
    started_at: float
    shape: Shape | None = None


@dataclass(frozen=True, slots=True)
class Ahead:
    """Work that a new item will wait behind: ``rows`` rows of ``model`` (of ``shape``, if known)."""

    model: str
    rows: int
    shape: Shape | None = None


class ServiceTimes:
    """Seconds per row for each model name (all versions together), over every input shape and for
    each shape, from measured batches."""

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        self._smoothing = smoothing
        self._per_row: dict[str, float] = {}
        self._per_shape: dict[tuple[str, Shape], float] = {}
        self._lock = threading.Lock()

    def observe(self, model: str, seconds: float, rows: int, shape: Shape | None = None) -> None:
        if rows < 1 or seconds < 0:
            return
        sample = seconds / rows
        with self._lock:
            self._per_row[model] = self._smoothed(self._per_row.get(model), sample)
            if shape is not None:
                key = (model, shape)
                previous = self._per_shape.pop(key, None)
                if previous is None and len(self._per_shape) >= SHAPES_KEPT:
                    del self._per_shape[next(iter(self._per_shape))]
                self._per_shape[key] = self._smoothed(previous, sample)

    def per_row(self, model: str, shape: Shape | None = None) -> float | None:
        """Of ``shape`` once a batch of that shape has run, else over every shape; None until a batch
        of ``model`` has been measured."""
        if shape is not None:
            measured = self._per_shape.get((model, shape))
            if measured is not None:
                return measured
        return self._per_row.get(model)

    def work(self, model: str, rows: int, shape: Shape | None = None) -> float:
        """Seconds of worker time ``rows`` rows of ``model`` take; 0 for an unmeasured model."""
        return rows * (self.per_row(model, shape) or 0.0)

    def _smoothed(self, previous: float | None, sample: float) -> float:
        return sample if previous is None else previous + self._smoothing * (sample - previous)


def expected_wait(
    now: float,
    running: Sequence[Running | None],
    ahead: Iterable[Ahead],
    times: ServiceTimes,
) -> float:
    """Seconds until a worker would take an item submitted at ``now``.

    ``running`` has one entry per worker (None: idle); ``ahead`` is everything that will be taken
    before the new item, in queue order. A batch that has run longer than expected counts as ending
    now: the estimate never invents negative work."""
    free = [
        0.0
        if batch is None
        else max(0.0, batch.started_at + times.work(batch.model, batch.rows, batch.shape) - now)
        for batch in running
    ]
    if not free:
        return 0.0
    heapq.heapify(free)
    for work in ahead:
        heapq.heapreplace(free, free[0] + times.work(work.model, work.rows, work.shape))
    return free[0]
