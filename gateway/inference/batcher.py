"""The dynamic batcher: one bounded queue shared by HTTP requests and camera frames.

Items for the same model version are merged into one batch up to the batch limit (the smaller of
``inference.max_batch_size`` and the model's), or until the oldest has waited
``max_queue_delay_ms``, whichever comes first. Only items whose inputs agree in every dimension
but the batch one (and in type) are merged: a model with dynamic height and width takes a camera's
640x640 frames and a client's 320x320 tensors, which no batch can hold together, so a batch ends
at the first item of another shape and that item heads the next one. The version whose oldest item
is oldest goes first, so a busy model cannot starve a quiet one.

Backpressure: the queue holds at most ``queue_capacity`` items; ``submit`` beyond that raises
OverloadedError at once (counted as ``queue_full``) rather than letting latency grow without bound.
An item whose deadline passed before a worker took it is answered with DeadlineExceededError
(``deadline``); so is one whose queue deadline (Triton's ``timeout`` request parameter) passed
first, counted as Triton counts it, a failure of its own kind (``timeout``, and a failed request in
the statistics), even when the API cancelled it as the timeout passed. A cancelled future is
skipped (``cancelled``). Nothing leaves the queue unanswered.

Measured on CPU, batching does not raise ONNX Runtime throughput (one single-threaded session per
core is the ceiling), so there ``max_queue_delay_ms: 0`` costs nothing and saves latency; on GPUs
the delay is what lets batches fill.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gateway.domain import ModelRef
from gateway.errors import DeadlineExceededError, InferenceError, OverloadedError
from gateway.inference.metrics import InferenceMetrics
from gateway.inference.statistics import InferenceStatistics
from gateway.inference.workload import Ahead, Shape

if TYPE_CHECKING:
    from gateway.inference.loaded import LoadedVersion

DEADLINE = "deadline"
TIMEOUT = "timeout"
EXPIRED = {DEADLINE: "deadline passed", TIMEOUT: "the request's timeout passed"}
"""How an expired item's error begins, by the outcome it is counted under."""

Outputs = dict[str, npt.NDArray[np.generic]]
Finisher = Callable[["LoadedVersion", Outputs], Any]
"""Turns one item's outputs (its rows of every output) into its future's result, given the loaded
version that ran them (a reload may have swapped it since the item was queued); runs on a worker."""


@dataclass(frozen=True, slots=True, eq=False)
class WorkItem:
    ref: ModelRef
    feeds: Mapping[str, npt.NDArray[np.generic]] = field(repr=False)
    """Every input, batch dimension first; ``rows`` rows."""
    rows: int
    batch_limit: int
    """Most rows a batch holding this item may have."""
    deadline: float | None
    """``time.monotonic()`` instant after which the item is not worth running."""
    future: Future[Any] = field(repr=False)
    finish: Finisher = field(repr=False)
    enqueued_at: float = 0.0
    fits: Callable[[LoadedVersion], bool] | None = field(default=None, repr=False)
    """Whether a version can run this item as it was checked and prepared (None: any can). Hot
    reload may swap the version while the item waits, for one that takes other inputs."""
    queue_deadline: float | None = None
    """``time.monotonic()`` instant after which the item, still queued, fails as timed out (Triton's
    ``timeout``); once a worker has taken it, it runs to its end."""
    shape: Shape = field(init=False, repr=False)
    """Items merge only when their shapes are equal."""

    def __post_init__(self) -> None:
        shape = tuple((name, tuple(array.shape[1:]), array.dtype.str) for name, array in self.feeds.items())
        object.__setattr__(self, "shape", shape)


@dataclass(frozen=True, slots=True)
class Batch:
    ref: ModelRef
    items: tuple[WorkItem, ...]
    rows: int
    taken_at: float

    @property
    def shape(self) -> Shape:
        return self.items[0].shape


class Batcher:
    def __init__(
        self,
        capacity: int,
        max_queue_delay_s: float,
        metrics: InferenceMetrics,
        clock: Callable[[], float] = time.monotonic,
        *,
        statistics: InferenceStatistics | None = None,
    ) -> None:
        self._capacity = capacity
        self._statistics = statistics
        """Where requests that timed out in the queue are counted as failed (the pool's)."""
        self._delay = max_queue_delay_s
        self._metrics = metrics
        self._clock = clock
        self._condition = threading.Condition()
        self._queues: dict[ModelRef, deque[WorkItem]] = {}
        self._count = 0
        self._closed = False

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def max_queue_delay_s(self) -> float:
        return self._delay

    def fill(self) -> float:
        """Items waiting over capacity, 0..1."""
        return self._count / self._capacity

    def queued(self) -> list[Ahead]:
        """Every waiting item's model name, rows and shape, oldest first: the work ahead of a new item.

        Read without the lock: admission asks on the event loop, and waiting there for a worker that
        holds the lock (and may itself be waiting for the GIL) held refusals for milliseconds. Each
        copy below is one C call that no other thread interleaves with (dict and deque copies hold
        the GIL, or the object's own lock on a free-threaded build); an item taken between two
        copies is counted or not, which the estimate tolerates."""
        queues = list(self._queues.values())
        items = [item for queue in queues for item in tuple(queue)]
        items.sort(key=lambda item: item.enqueued_at)
        return [Ahead(item.ref.name, item.rows, item.shape) for item in items]

    def submit(self, item: WorkItem) -> None:
        """Queue ``item``; raises OverloadedError when the queue is full or closed."""
        with self._condition:
            if self._closed:
                raise OverloadedError("inference is shutting down", retry_after_s=5.0)
            if self._count >= self._capacity:
                self._metrics.drops.labels("queue_full").inc()
                raise OverloadedError(f"inference queue full ({self._capacity} waiting)")
            queue = self._queues.get(item.ref)
            if queue is None:
                queue = self._queues[item.ref] = deque()
            queue.append(item)
            self._count += 1
            self._metrics.queue_depth.set(self._count)
            self._condition.notify()

    def next_batch(self, timeout: float) -> Batch | None:
        """Block until a batch is due and take it; None after ``timeout`` seconds or once closed."""
        give_up = self._clock() + timeout
        with self._condition:
            while not self._closed:
                now = self._clock()
                ref = self._oldest()
                if ref is None:
                    if now >= give_up:
                        return None
                    self._condition.wait(give_up - now)
                    continue
                queue = self._queues[ref]
                due = queue[0].enqueued_at + self._delay
                if now < due and not self._full(queue):
                    if now >= give_up:
                        return None
                    self._condition.wait(min(due, give_up) - now)
                    continue
                batch = self._take(ref, queue, now)
                if self._count:
                    self._condition.notify()
                if batch is not None:
                    return batch
        return None

    def close(self) -> None:
        """Refuse new items and fail every waiting one; wakes every waiting worker."""
        with self._condition:
            self._closed = True
            waiting = [item for queue in self._queues.values() for item in queue]
            self._queues.clear()
            self._count = 0
            self._metrics.queue_depth.set(0)
            self._condition.notify_all()
        for item in waiting:
            self._metrics.drops.labels("shutdown").inc()
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(InferenceError("inference stopped before the item ran"))

    def _expire(self, item: WorkItem, expired: str, now: float) -> None:
        """Answer ``item``, whose deadline or timeout passed in the queue (or cancelled by the API as
        it passed), and count it under ``expired``."""
        self._metrics.drops.labels(expired).inc()
        self._metrics.outcome(item.ref, expired)
        if expired == TIMEOUT and self._statistics is not None:
            self._statistics.failed(item.ref, [int((now - item.enqueued_at) * 1e9)])
        if item.future.set_running_or_notify_cancel():
            item.future.set_exception(
                DeadlineExceededError(f"{EXPIRED[expired]} after {now - item.enqueued_at:.3f}s in queue")
            )

    def _oldest(self) -> ModelRef | None:
        oldest: ModelRef | None = None
        oldest_at = 0.0
        for ref, queue in self._queues.items():
            if queue and (oldest is None or queue[0].enqueued_at < oldest_at):
                oldest, oldest_at = ref, queue[0].enqueued_at
        return oldest

    @staticmethod
    def _full(queue: deque[WorkItem]) -> bool:
        """True when no further item could join the batch the head item starts."""
        limit = queue[0].batch_limit
        shape = queue[0].shape
        rows = 0
        for item in queue:
            if rows + item.rows > limit or item.shape != shape:
                return True
            rows += item.rows
            if rows == limit:
                return True
        return False

    def _take(self, ref: ModelRef, queue: deque[WorkItem], now: float) -> Batch | None:
        limit = queue[0].batch_limit
        taken: list[WorkItem] = []
        rows = 0
        while queue and rows + queue[0].rows <= limit and (not taken or queue[0].shape == taken[0].shape):
            item = queue.popleft()
            self._count -= 1
            expired = expiry(item.deadline, item.queue_deadline, now)
            if expired is not None:
                self._expire(item, expired, now)
                continue
            if not item.future.set_running_or_notify_cancel():
                self._metrics.drops.labels("cancelled").inc()
                self._metrics.outcome(ref, "cancelled")
                continue
            taken.append(item)
            rows += item.rows
        if not queue:
            del self._queues[ref]
        self._metrics.queue_depth.set(self._count)
        if not taken:
            return None
        return Batch(ref, tuple(taken), rows, now)


def expiry(deadline: float | None, queue_deadline: float | None, now: float) -> str | None:
    """``TIMEOUT`` or ``DEADLINE``: which of an item's limits has passed at ``now`` (the earlier, when
    both have), or None."""
    if (
        queue_deadline is not None
        and queue_deadline <= now
        and (deadline is None or queue_deadline <= deadline)
    ):
        return TIMEOUT
    if deadline is not None and deadline <= now:
        return DEADLINE
    return None
