"""``InferenceService``: repository + batcher + worker pool behind ``gateway.api.ports.InferenceBackend``.

HTTP requests (``infer``, ``detect``) and camera frames (``submit_frame``) go through the same
bounded queue. Inputs are checked against the tensor specs of the version that will run them
before they are queued (request_checks.py), so a bad request fails alone, synchronously, with an
InvalidInputError naming the problem, and never poisons the batch it would have joined.

A request for a model that loads on demand (``models.preload: cameras`` and no camera uses it)
starts its load on the ``model-loader`` thread and is queued once the model is warm; its future
carries any error, the load's included. ``expected_wait_s`` is the admission estimate: what the
workers and the queue have ahead of a new item, in seconds (see workload.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry

from gateway.config import GatewayConfig
from gateway.domain import (
    DetectOutput,
    Image,
    InferenceOutput,
    ModelRef,
    ModelReference,
    ModelRouting,
    ModelStatistics,
    ModelVersionStatus,
)
from gateway.errors import (
    DeadlineExceededError,
    InferenceError,
    InvalidInputError,
    ModelLoadError,
    ModelNotReadyError,
)
from gateway.inference import postprocess, preprocess
from gateway.inference.batcher import EXPIRED, TIMEOUT, Batcher, Finisher, Outputs, WorkItem, expiry
from gateway.inference.defaults import (
    camera_models,
    default_merge_limit,
    default_queue_delay_ms,
    default_workers,
    engine_options,
)
from gateway.inference.engines.selection import EngineSelector, planned_provider
from gateway.inference.loaded import LoadedVersion, takes_same_frames, takes_same_inputs
from gateway.inference.metrics import InferenceMetrics
from gateway.inference.pool import WorkerPool
from gateway.inference.provider_metrics import ProviderCollector
from gateway.inference.repository import ModelRepository
from gateway.inference.request_checks import check_inputs
from gateway.inference.statistics import InferenceStatistics
from gateway.inference.workload import Ahead, ServiceTimes, expected_wait
from gateway.wording import counted

__all__ = ["InferenceService"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

JOIN_TIMEOUT_S = 10.0


class InferenceService:
    def __init__(
        self,
        repository: ModelRepository,
        batcher: Batcher,
        pool: WorkerPool,
        metrics: InferenceMetrics,
        *,
        max_batch_size: int,
        poll_interval_s: float,
        stop: threading.Event,
        merge_limit: int | None = None,
    ) -> None:
        self.repository = repository
        self.batcher = batcher
        self.pool = pool
        self.metrics = metrics
        self.odd_outputs = postprocess.OddOutputs(metrics.odd_output)
        self._max_batch_size = max_batch_size
        self._merge_limit = merge_limit or max_batch_size
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
        self._poll_interval_s = poll_interval_s
        self._stop = stop
        self._running = False

    @classmethod
    def from_config(
        cls, config: GatewayConfig, registry: CollectorRegistry, stop: threading.Event | None = None
    ) -> InferenceService:
        settings = config.inference
        options = engine_options(config)
        provider = planned_provider(options)
        workers = settings.workers or default_workers(provider)
        delay_ms = default_queue_delay_ms(provider, settings.max_queue_delay_ms, settings.model_fields_set)
        merge_limit = default_merge_limit(provider, settings.max_batch_size, settings.model_fields_set)
        logger.info(
            "inference on %s with %s, batches of up to %s wait up to %.1f ms",
            provider or "no available provider",
            counted(workers, "worker"),
            counted(merge_limit, "row"),
            delay_ms,
        )
        metrics = InferenceMetrics(registry)
        stop = stop or threading.Event()
        service_times = ServiceTimes()
        preloaded = camera_models(config)
        repository = ModelRepository(
            config.models.repository,
            EngineSelector(),
            options,
            engines_per_version=workers,
            warmup_batches=config.models.warmup_batches,
            largest_batch=merge_limit,
            preload=None if config.models.preload == "all" else preloaded.__contains__,
            service_times=service_times,
        )
        registry.register(ProviderCollector(repository.statuses))
        statistics = InferenceStatistics()
        batcher = Batcher(settings.queue_capacity, delay_ms / 1000, metrics, statistics=statistics)
        pool = WorkerPool(
            batcher,
            repository,
            workers,
            metrics,
            stop,
            service_times=service_times,
            statistics=statistics,
            nice_increment=settings.worker_nice,
        )
        return cls(
            repository,
            batcher,
            pool,
            metrics,
            max_batch_size=settings.max_batch_size,
            poll_interval_s=config.models.poll_interval_s,
            stop=stop,
            merge_limit=merge_limit,
        )

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Scan, load and warm every model, then start the workers and the hot-reload poller."""
        self.repository.scan()
        self.repository.load_all()
        self.pool.start()
        self.repository.start_polling(self._poll_interval_s, self._stop)
        self._running = True

    def stop(self) -> None:
        """Every thread ends: queued items fail, running batches finish, then sessions close."""
        self._running = False
        self._stop.set()
        self.batcher.close()
        self.pool.join(JOIN_TIMEOUT_S)
        self.repository.join_polling(JOIN_TIMEOUT_S)
        self._loader.shutdown(wait=True, cancel_futures=True)
        self.repository.close()

    # --- InferenceBackend -----------------------------------------------------------------------

    def ready(self) -> bool:
        return self._running and not self._stop.is_set()

    def models(self) -> Sequence[ModelVersionStatus]:
        return [self._as_served(status) for status in self.repository.statuses()]

    def status(self, name: str, version: int | None) -> ModelVersionStatus:
        return self._as_served(self.repository.status(name, version))

    def _as_served(self, status: ModelVersionStatus) -> ModelVersionStatus:
        """``status`` with the batch size a request may carry: ``inference.max_batch_size`` bounds it
        too (``_batch_limit``), and clients size their requests by what /v2 config says."""
        if status.max_batch_size <= self._max_batch_size:
            return status
        return replace(status, max_batch_size=self._max_batch_size)

    def statistics(self, name: str | None, version: int | None) -> list[ModelStatistics]:
        """What every version of ``name`` (of every model, with None) or ``name:version`` has run;
        ModelNotFoundError for a model or version the repository does not have."""
        if name is not None:
            self.repository.status(name, version)  # the model (and version) must exist
        refs = [
            status.ref
            for status in self.repository.statuses()
            if status.version and name in (None, status.name) and version in (None, status.version)
        ]
        return [self.pool.statistics.of(ref) for ref in refs]

    def queue_fill(self) -> float:
        return self.batcher.fill()

    def expected_wait_s(self, pending: Mapping[str, int]) -> float:
        """Seconds until a worker would take an item submitted now, behind the running batches, the
        queue and ``pending`` (model name -> items admitted but not yet submitted)."""
        ahead = self.batcher.queued()
        ahead += [Ahead(name, 1) for name, count in pending.items() for _ in range(count)]
        return expected_wait(time.monotonic(), self.pool.running(), ahead, self.pool.service_times)

    def service_time_s(self, name: str) -> float | None:
        """Measured seconds per item of ``name`` (warm-up, then every batch), None before any."""
        return self.pool.service_times.per_row(name)

    def worker_idle_s(self) -> tuple[float, int]:
        """Seconds the inference workers have spent without a batch, summed over them, and how many
        there are."""
        return self.pool.idle_s(), self.pool.workers

    def routing(self, name: str) -> ModelRouting:
        return self.repository.routing(name)

    def queue_settings(self) -> tuple[float, int]:
        """The batcher's ``max_queue_delay`` (seconds) and queue capacity, for /v2 model config."""
        return self.batcher.max_queue_delay_s, self.batcher.capacity

    def infer(
        self,
        name: str,
        version: int | None,
        inputs: Mapping[str, npt.NDArray[np.generic]],
        deadline: float | None,
        queue_deadline: float | None = None,
    ) -> Future[InferenceOutput]:
        """With Triton's ``timeout``: still queued at ``queue_deadline`` (a ``time.monotonic()``
        instant), the request fails as timed out, counted apart from requests whose ``deadline``
        passed (the ``timeout`` outcome, and a failure in the statistics)."""
        waiting = self.repository.unloaded(name, version)
        if waiting is not None:
            return self._after_load(
                waiting, lambda: self.infer(name, version, inputs, deadline, queue_deadline)
            )
        loaded = self.repository.route(name, version)
        rows = check_inputs(loaded, inputs, self._batch_limit(loaded))
        return self._submit(
            loaded,
            inputs,
            rows,
            deadline,
            _inference_output,
            fits=takes_same_inputs(loaded),
            queue_deadline=queue_deadline,
        )

    def detect(
        self, name: str, version: int | None, image: Image, deadline: float | None
    ) -> Future[DetectOutput]:
        waiting = self.repository.unloaded(name, version)
        if waiting is not None:
            return self._after_load(waiting, lambda: self.detect(name, version, image, deadline))
        loaded = self.repository.route(name, version)
        config = loaded.config
        if config.preprocess is None or config.postprocess.kind == "none":
            raise InvalidInputError(
                f"model {loaded.ref} takes raw tensors only (no postprocess); use /v2 infer"
            )
        item, letterbox = preprocess.prepare(image, config.preprocess)
        spec = config.postprocess

        def finish(served: LoadedVersion, outputs: Outputs) -> DetectOutput:
            ref = served.ref
            for output, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != 1:
                    raise InferenceError(
                        f"model {ref}: output {output!r} has shape {list(value.shape)} for one frame; "
                        "its first dimension must be the batch (1 row per frame)"
                    )
            item = {name: value[0] for name, value in outputs.items()}
            report = self.odd_outputs.reporter(ref)
            detections, score = postprocess.decode(item, letterbox, spec, report)
            return DetectOutput(ref, detections, score, postprocess.anomaly_map(item, spec, report))

        feeds = {loaded.inputs[0].name: item[np.newaxis]}
        return self._submit(loaded, feeds, 1, deadline, finish, fits=takes_same_frames(loaded))

    def detect_encoded(
        self, name: str, version: int | None, data: bytes, deadline: float | None
    ) -> Future[DetectOutput]:
        """``detect`` on a JPEG or PNG body (/v1/detect): decoding stays here, with OpenCV."""
        return self.detect(name, version, preprocess.decode_image(data), deadline)

    def submit_frame(
        self, reference: ModelReference, image: Image, deadline: float | None
    ) -> Future[DetectOutput]:
        """A camera frame for the referenced model; raises like ``detect``."""
        return self.detect(reference.name, reference.version, image, deadline)

    def _batch_limit(self, loaded: LoadedVersion) -> int:
        return min(self._max_batch_size, loaded.max_batch_size)

    def _after_load(self, ref: ModelRef, submit: Callable[[], Future[T]]) -> Future[T]:
        """Load ``ref`` on the loader thread, then ``submit``; the returned future gets its outcome
        (or the load's error). Concurrent first requests share one load (the repository's lock)."""
        result: Future[T] = Future()

        def load_then_submit() -> None:
            failure: ModelLoadError | None = None
            try:
                try:
                    self.repository.load(ref)
                except ModelLoadError as exc:
                    # Routed again, a request without a version goes past the version that just
                    # failed to one that serves; a pinned one gets this error.
                    failure = exc
                inner = submit()
            except Exception as exc:  # a load or submit error belongs to this request alone
                if not result.done():
                    result.set_exception(failure if isinstance(exc, ModelNotReadyError) and failure else exc)
                return
            result.add_done_callback(lambda done: inner.cancel() if done.cancelled() else None)
            inner.add_done_callback(lambda done: _copy_outcome(done, result))

        self._loader.submit(load_then_submit)
        return result

    def _submit(
        self,
        loaded: LoadedVersion,
        feeds: Mapping[str, npt.NDArray[np.generic]],
        rows: int,
        deadline: float | None,
        finish: Finisher,
        *,
        fits: Callable[[LoadedVersion], bool],
        queue_deadline: float | None = None,
    ) -> Future[Any]:
        future: Future[Any] = Future()
        now = time.monotonic()
        expired = expiry(deadline, queue_deadline, now)
        if expired is not None:
            self.metrics.drops.labels(expired).inc()
            self.metrics.outcome(loaded.ref, expired)
            if expired == TIMEOUT:
                self.pool.statistics.failed(loaded.ref, [0])
            future.set_exception(DeadlineExceededError(f"{EXPIRED[expired]} before the request was queued"))
            return future
        item = WorkItem(
            ref=loaded.ref,
            feeds=feeds,
            rows=rows,
            batch_limit=max(min(self._merge_limit, loaded.max_batch_size), rows),
            deadline=deadline,
            future=future,
            finish=finish,
            enqueued_at=now,
            fits=fits,
            queue_deadline=queue_deadline,
        )
        self.batcher.submit(item)
        return future


def _copy_outcome(source: Future[T], target: Future[T]) -> None:
    if target.done():  # the caller gave up (its deadline passed) and cancelled it
        return
    if source.cancelled():
        target.cancel()
        return
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


def _inference_output(loaded: LoadedVersion, outputs: Outputs) -> InferenceOutput:
    return InferenceOutput(loaded.ref, outputs, loaded.labels)
