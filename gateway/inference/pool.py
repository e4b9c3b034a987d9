"""The bounded worker pool: a fixed number of named threads that run the batches.

Worker ``i`` runs every batch on engine ``i`` of the version: the repository loads one engine per
worker, or one that every worker shares where it is thread-safe (ONNX Runtime's sessions). A batch
runs on the version that serves when a worker takes it: hot reload may have replaced the one its
items were checked against, so items that version cannot run are answered "send it again", and a
batch merged under a ``max_batch_size`` the reload lowered runs in parts within the new one. Measured
on CPU, one single-threaded session per core is the throughput ceiling, hence the default of one
worker per core there and one worker on a GPU provider, where batching is what raises throughput. No
thread is created per request: results travel back through each item's ``concurrent.futures.Future``.

The workers run at a lower priority than the threads that answer requests and read cameras
(thread_priority: ``SCHED_BATCH`` and ``inference.worker_nice`` on Linux).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from gateway.errors import GatewayError, InferenceError, ModelNotReadyError
from gateway.inference.batcher import Batch, Batcher, Outputs, WorkItem
from gateway.inference.loaded import LoadedVersion
from gateway.inference.metrics import InferenceMetrics
from gateway.inference.repository import ModelRepository
from gateway.inference.statistics import Answer, InferenceStatistics
from gateway.inference.thread_priority import give_worker_priority
from gateway.inference.workload import Running, ServiceTimes

logger = logging.getLogger(__name__)

POLL_S = 0.25
"""How often an idle worker looks at the stop event."""


class WorkerPool:
    def __init__(
        self,
        batcher: Batcher,
        repository: ModelRepository,
        workers: int,
        metrics: InferenceMetrics,
        stop: threading.Event,
        *,
        service_times: ServiceTimes | None = None,
        statistics: InferenceStatistics | None = None,
        nice_increment: int = 0,
    ) -> None:
        self._batcher = batcher
        self._repository = repository
        self._workers = workers
        self._metrics = metrics
        self._stop = stop
        self._threads: list[threading.Thread] = []
        self._nice_increment = nice_increment
        self.service_times = service_times or ServiceTimes()
        self.statistics = statistics or InferenceStatistics()
        # Per worker: the batch it is running, None while idle. One list store per batch, read
        # without a lock by the watchdog's health check and by admission's wait estimate.
        self._running: list[Running | None] = [None] * workers
        # Per worker: seconds spent idle before its current stretch, and when that stretch began
        # (None while it runs a batch). Written by the worker alone, read by admission without a lock.
        self._idle_s = [0.0] * workers
        self._idle_since: list[float | None] = [time.monotonic()] * workers

    @property
    def workers(self) -> int:
        return self._workers

    def running(self) -> list[Running | None]:
        """What each worker runs now (None: idle), for the wait estimate."""
        return list(self._running)

    def idle_s(self) -> float:
        """Seconds the workers have spent without a batch since they were made, summed over workers."""
        now = time.monotonic()
        since = list(self._idle_since)
        return sum(self._idle_s) + sum(now - start for start in since if start is not None)

    def stuck(self, max_batch_s: float) -> list[str]:
        """Workers that died, or have run one batch longer than ``max_batch_s``, and a hot-reload
        thread that died: the watchdog's view of inference."""
        now = time.monotonic()
        problems = [f"{thread.name} died" for thread in self._threads if not thread.is_alive()]
        # Hot reload off while health says true would go unnoticed until a model update is missed.
        problems += self._repository.polling_problems()
        for index, batch in enumerate(self._running):
            if batch is not None and now - batch.started_at > max_batch_s:
                problems.append(
                    f"inference-worker-{index} stuck in one batch for {now - batch.started_at:.0f} s"
                )
        return problems

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(
                target=self._work, args=(index,), name=f"inference-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        refused = {
            thread.name: give_worker_priority(thread, self._nice_increment) for thread in self._threads
        }
        for call, kept in (
            ("SCHED_BATCH", "the default scheduling policy"),
            ("setpriority", "their nice value"),
        ):
            names = [name for name, calls in refused.items() if call in calls]
            if names:
                logger.warning("%s keep %s: %s was refused", names, kept, call)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the workers after ``stop`` is set; each finishes the batch it is running."""
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        if self._threads:
            logger.error("inference workers still running: %s", [thread.name for thread in self._threads])

    def _work(self, index: int) -> None:
        while not self._stop.is_set():
            batch = self._batcher.next_batch(POLL_S)
            if batch is not None:
                started = time.monotonic()
                idle_since = self._idle_since[index]
                if idle_since is not None:
                    self._idle_s[index] += started - idle_since
                self._idle_since[index] = None
                self._running[index] = Running(batch.ref.name, batch.rows, started, batch.shape)
                try:
                    self.run_batch(batch, index)
                finally:
                    self._running[index] = None
                    self._idle_since[index] = time.monotonic()

    def run_batch(self, batch: Batch, index: int) -> None:
        """Run one batch on this worker's engine and answer every item in it."""
        ref = batch.ref
        wait = self._metrics.queue_wait.labels(ref.name, str(ref.version))
        for item in batch.items:
            wait.observe(batch.taken_at - item.enqueued_at)
        try:
            loaded = self._repository.acquire(ref)
        except Exception as exc:  # every item gets an answer, whatever went wrong
            self._fail(batch, exc)
            return
        with loaded.serving():
            # Items queued before a reload lowered max_batch_size were merged under the old limit.
            for part in _parts(self._fitting(batch, loaded), loaded.max_batch_size):
                self._run(part, loaded, index)

    def _run(self, batch: Batch, loaded: LoadedVersion, index: int) -> None:
        ref = batch.ref
        labels = (ref.name, str(ref.version))
        self._metrics.batch_size.labels(*labels).observe(batch.rows)
        try:
            merging = time.perf_counter_ns()
            feeds = _merge(batch)
            started = time.perf_counter_ns()
            outputs = loaded.engines[index % len(loaded.engines)].run(feeds)
            ended = time.perf_counter_ns()
            elapsed = (ended - started) / 1e9
            self._metrics.compute.labels(*labels).observe(elapsed)
            self.service_times.observe(ref.name, elapsed, batch.rows, batch.shape)
        except Exception as exc:  # every item gets an answer, whatever went wrong
            self._fail(batch, exc)
            return
        input_ns, infer_ns = started - merging, ended - started
        self.statistics.executed(ref, batch.rows, input_ns, infer_ns)
        self._answer(batch, loaded, outputs, input_ns, infer_ns)

    def _fail(self, batch: Batch, exc: Exception) -> None:
        ref = batch.ref
        error = exc if isinstance(exc, GatewayError) else InferenceError(f"inference failed: {exc}")
        if not isinstance(exc, GatewayError):
            logger.exception("batch for %s failed", ref, extra={"model": str(ref)}, exc_info=exc)
        self.statistics.failed(ref, [_nanoseconds_since(item.enqueued_at) for item in batch.items])
        for item in batch.items:
            item.future.set_exception(error)
        self._metrics.outcome(ref, _outcome(error), len(batch.items))

    def _answer(
        self, batch: Batch, loaded: LoadedVersion, outputs: Outputs, input_ns: int, infer_ns: int
    ) -> None:
        """Each item's rows of ``outputs`` (what ``loaded`` gave), through its finisher, to its future."""
        ref = batch.ref
        start = 0
        for item in batch.items:
            end = start + item.rows
            answering = time.perf_counter_ns()
            failure: Exception | None = None
            try:
                rows = outputs if len(batch.items) == 1 else _rows(outputs, start, end, batch.rows)
                result = item.finish(loaded, rows)
            except Exception as exc:  # postprocess of one item fails that item only
                failure = (
                    exc if isinstance(exc, GatewayError) else InferenceError(f"postprocess failed: {exc}")
                )
            finally:
                start = end
            # Counted before it is answered: a client that reads the statistics next finds it there.
            answer = Answer(
                rows=item.rows,
                queue_ns=round((batch.taken_at - item.enqueued_at) * 1e9),
                request_ns=_nanoseconds_since(item.enqueued_at),
                output_ns=time.perf_counter_ns() - answering,
                succeeded=failure is None,
            )
            self.statistics.answered(ref, batch.rows, answer, input_ns, infer_ns)
            if failure is None:
                item.future.set_result(result)
                self._metrics.outcome(ref, "ok")
            else:
                item.future.set_exception(failure)
                self._metrics.outcome(ref, _outcome(failure))

    def _fitting(self, batch: Batch, loaded: LoadedVersion) -> Batch:
        """The batch without the items ``loaded`` cannot run, which are answered: checked against
        the version that served when they were queued, they would fail in the engine with an error
        that blames the request (a 400 for a request that was valid when sent), or run with more
        rows than the version takes."""
        misfits: dict[WorkItem, str] = {}
        for item in batch.items:
            if item.fits is not None and not item.fits(loaded):
                misfits[item] = "takes other inputs or gives other outputs"
            elif item.rows > loaded.max_batch_size:
                misfits[item] = (
                    f"takes at most {loaded.max_batch_size} rows a request (this one has {item.rows})"
                )
        if not misfits:
            return batch
        self.statistics.failed(batch.ref, [_nanoseconds_since(item.enqueued_at) for item in misfits])
        for item, reason in misfits.items():
            error = ModelNotReadyError(
                f"model {batch.ref} was replaced while the request waited, by a version that "
                f"{reason}; send it again"
            )
            item.future.set_exception(error)
            self._metrics.outcome(batch.ref, _outcome(error))
        items = tuple(item for item in batch.items if item not in misfits)
        return replace(batch, items=items, rows=sum(item.rows for item in items))


def _nanoseconds_since(monotonic_s: float) -> int:
    return round((time.monotonic() - monotonic_s) * 1e9)


def _parts(batch: Batch, limit: int) -> list[Batch]:
    """``batch`` in consecutive runs of items of at most ``limit`` rows (each item fits alone)."""
    if batch.rows <= limit:
        return [batch] if batch.items else []
    parts: list[Batch] = []
    taken: list[WorkItem] = []
    rows = 0
    for item in batch.items:
        if taken and rows + item.rows > limit:
            parts.append(replace(batch, items=tuple(taken), rows=rows))
            taken, rows = [], 0
        taken.append(item)
        rows += item.rows
    parts.append(replace(batch, items=tuple(taken), rows=rows))
    return parts


def _merge(batch: Batch) -> dict[str, npt.NDArray[np.generic]]:
    first = batch.items[0].feeds
    if len(batch.items) == 1:
        return dict(first)
    return {name: np.concatenate([item.feeds[name] for item in batch.items]) for name in first}


def _rows(outputs: Outputs, start: int, end: int, total: int) -> Outputs:
    sliced: Outputs = {}
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != total:
            raise InferenceError(f"output {name!r} has no batch dimension of {total}; cannot split the batch")
        sliced[name] = value[start:end]
    return sliced


def _outcome(error: BaseException) -> str:
    return type(error).__name__.removesuffix("Error").lower() or "error"
