"""Version lifetime (retire after in-flight batches), signature checks and batch splitting, with
hand-written engines standing in for ONNX Runtime (pure logic; the real engine is tested in
tests/integration/inference)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client import CollectorRegistry

from gateway.domain import ModelRef, TensorSpec, TensorType
from gateway.errors import InferenceError, InvalidInputError, ModelLoadError
from gateway.inference.batcher import Batch, Batcher, Outputs, WorkItem
from gateway.inference.engines.base import Engine, EngineOptions, Tensors
from gateway.inference.loaded import LoadedVersion, check_signature, warm_up
from gateway.inference.metrics import InferenceMetrics
from gateway.inference.model_config import ModelConfig
from gateway.inference.pool import WorkerPool
from gateway.inference.repository import ModelRepository
from tests.support.onnx_models import affine_model_document, write_model_file, write_model_yaml

REF = ModelRef("double", 1)


class DoublingEngine:
    """y = 2x; optionally fails every run with ``error``."""

    def __init__(self, error: Exception | None = None, shape: tuple[int, ...] = (-1, 4)) -> None:
        self.error = error
        self.closed = False
        self.batches: list[int] = []
        self._inputs = (TensorSpec("INPUT0", TensorType.FP32, shape),)
        self._outputs = (TensorSpec("OUTPUT0", TensorType.FP32, shape),)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def provider(self) -> str:
        return "FakeExecutionProvider"

    @property
    def thread_safe(self) -> bool:
        return False

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        if self.error is not None:
            raise self.error
        value = feeds["INPUT0"]
        self.batches.append(len(value))
        return {"OUTPUT0": value * 2}

    def close(self) -> None:
        self.closed = True


def config(max_batch_size: int = 8) -> ModelConfig:
    return ModelConfig.model_validate(affine_model_document(max_batch_size=max_batch_size))


def test_a_retired_version_closes_only_after_its_in_flight_batches() -> None:
    engine = DoublingEngine()
    loaded = LoadedVersion(REF, config(), (engine,))
    assert loaded.enter()

    loaded.retire()

    assert not engine.closed, "closed under a running batch"
    assert not loaded.enter(), "a retired version takes no new batch"
    loaded.exit()
    assert engine.closed
    assert loaded.closed


@pytest.mark.parametrize(
    ("engine_shape", "problem"),
    [
        ((-1, 5), "dimension 1 is 5 in the model file, 4 in model.yaml"),
        ((-1, 4, 1), "plus the batch dimension do not match"),
        ((2, 4), "fixes the batch dimension at 2, below max_batch_size 8"),
    ],
)
def test_a_model_file_that_disagrees_with_model_yaml_is_refused(
    engine_shape: tuple[int, ...], problem: str
) -> None:
    with pytest.raises(ModelLoadError, match=problem):
        check_signature(config(), DoublingEngine(shape=engine_shape))


def test_a_fixed_batch_dimension_is_fine_when_it_covers_max_batch_size() -> None:
    check_signature(config(max_batch_size=1), DoublingEngine(shape=(1, 4)))


class FakeFactory:
    def __init__(self, engine: DoublingEngine) -> None:
        self.engine = engine

    def __call__(self, path: Path, options: EngineOptions) -> Engine:
        return self.engine


def repository_for(tmp_path: Path, engine: DoublingEngine) -> ModelRepository:
    write_model_yaml(tmp_path, "double", affine_model_document())
    write_model_file(tmp_path, "double", 1, b"the fake engine never reads it")
    repository = ModelRepository(tmp_path, FakeFactory(engine), EngineOptions(), warmup_batches=0)
    repository.scan()
    repository.load_all()
    return repository


def pool_for(tmp_path: Path, engine: DoublingEngine) -> tuple[WorkerPool, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    pool = WorkerPool(
        Batcher(8, 0.0, metrics), repository_for(tmp_path, engine), 1, metrics, threading.Event()
    )
    return pool, registry


def batch(*rows: int, finish: object = None) -> Batch:
    items = []
    for count in rows:
        future: Future[Outputs] = Future()
        future.set_running_or_notify_cancel()
        items.append(
            WorkItem(
                REF,
                {"INPUT0": np.full((count, 4), count, np.float32)},
                count,
                8,
                None,
                future,
                finish if callable(finish) else (lambda ref, outputs: outputs),
                time.monotonic(),
            )
        )
    return Batch(REF, tuple(items), sum(rows), time.monotonic())


def test_one_engine_run_per_batch_and_rows_go_back_to_their_items(tmp_path: Path) -> None:
    engine = DoublingEngine()
    pool, registry = pool_for(tmp_path, engine)
    work = batch(1, 3, 2)

    pool.run_batch(work, 0)

    assert engine.batches == [6]
    for item in work.items:
        assert item.future.result(0)["OUTPUT0"].tolist() == [[item.rows * 2.0] * 4] * item.rows
    assert (
        registry.get_sample_value(
            "edge_gateway_inference_batch_size_sum", {"model": "double", "version": "1"}
        )
        == 6
    )


def test_an_engine_failure_answers_every_item_with_a_gateway_error(tmp_path: Path) -> None:
    pool, registry = pool_for(tmp_path, DoublingEngine(error=InvalidInputError("bad tensor")))
    work = batch(1, 2)

    pool.run_batch(work, 0)

    for item in work.items:
        with pytest.raises(InvalidInputError, match="bad tensor"):
            item.future.result(0)
    labels = {"model": "double", "version": "1", "outcome": "invalidinput"}
    assert registry.get_sample_value("edge_gateway_inference_requests_total", labels) == 2


def test_an_unexpected_failure_becomes_an_inference_error(tmp_path: Path) -> None:
    pool, _ = pool_for(tmp_path, DoublingEngine(error=RuntimeError("segfault avoided")))
    work = batch(1)

    pool.run_batch(work, 0)

    with pytest.raises(InferenceError, match="segfault avoided"):
        work.items[0].future.result(0)


def test_a_failing_finisher_fails_only_its_own_item(tmp_path: Path) -> None:
    pool, _ = pool_for(tmp_path, DoublingEngine())

    def finish(served: LoadedVersion, outputs: Outputs) -> Outputs:
        if len(outputs["OUTPUT0"]) == 2:
            raise ValueError("cannot decode")
        return outputs

    work = batch(1, 2, 1, finish=finish)

    pool.run_batch(work, 0)

    assert work.items[0].future.result(0)["OUTPUT0"].shape == (1, 4)
    with pytest.raises(InferenceError, match="postprocess failed: cannot decode"):
        work.items[1].future.result(0)
    assert work.items[2].future.result(0)["OUTPUT0"].shape == (1, 4)


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_started_workers_run_under_sched_batch_and_still_serve(tmp_path: Path) -> None:
    metrics = InferenceMetrics(CollectorRegistry())
    batcher = Batcher(8, 0.0, metrics)
    stop = threading.Event()
    pool = WorkerPool(batcher, repository_for(tmp_path, DoublingEngine()), 2, metrics, stop)
    before = set(threading.enumerate())
    pool.start()
    try:
        workers = [thread for thread in threading.enumerate() if thread not in before]
        assert len(workers) == 2
        assert {os.sched_getscheduler(thread.native_id or 0) for thread in workers} == {os.SCHED_BATCH}
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        future: Future[Outputs] = Future()
        item = WorkItem(
            REF, {"INPUT0": np.ones((1, 4), np.float32)}, 1, 8, None, future, lambda ref, rows: rows
        )
        batcher.submit(item)
        assert future.result(5)["OUTPUT0"].tolist() == [[2.0] * 4]
    finally:
        stop.set()
        pool.join(5)


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
@pytest.mark.parametrize("increment", [0, 7, 40])
def test_started_workers_add_their_nice_increment_and_the_rest_keep_theirs(
    tmp_path: Path, increment: int
) -> None:
    metrics = InferenceMetrics(CollectorRegistry())
    batcher = Batcher(8, 0.0, metrics)
    stop = threading.Event()
    pool = WorkerPool(
        batcher, repository_for(tmp_path, DoublingEngine()), 2, metrics, stop, nice_increment=increment
    )
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = set(threading.enumerate())
    pool.start()
    try:
        workers = [thread for thread in threading.enumerate() if thread not in before]
        assert len(workers) == 2
        expected = min(19, own + increment)
        assert {os.getpriority(os.PRIO_PROCESS, thread.native_id or 0) for thread in workers} == {expected}
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own
    finally:
        stop.set()
        pool.join(5)


class HeldEngine(DoublingEngine):
    """Runs a batch only once ``release`` is set, saying when it has started."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        self.started.set()
        self.release.wait(5)
        return super().run(feeds)


def test_a_worker_counts_idle_time_only_while_it_has_no_batch(tmp_path: Path) -> None:
    metrics = InferenceMetrics(CollectorRegistry())
    batcher = Batcher(8, 0.0, metrics)
    stop = threading.Event()
    engine = HeldEngine()
    pool = WorkerPool(batcher, repository_for(tmp_path, engine), 1, metrics, stop)
    pool.start()
    try:
        time.sleep(0.05)
        assert pool.idle_s() >= 0.05, "idle from the start"
        future: Future[Outputs] = Future()
        batcher.submit(
            WorkItem(REF, {"INPUT0": np.ones((1, 4), np.float32)}, 1, 8, None, future, lambda ref, rows: rows)
        )
        assert engine.started.wait(5)
        running = pool.idle_s()
        time.sleep(0.05)
        assert pool.idle_s() == running, "a worker running a batch is not idle"
        engine.release.set()
        future.result(5)
        give_up = time.monotonic() + 5
        while pool.idle_s() < running + 0.05 and time.monotonic() < give_up:
            time.sleep(0.01)
        assert pool.idle_s() >= running + 0.05, "idle again once the batch is answered"
    finally:
        engine.release.set()
        stop.set()
        pool.join(5)


class ShapeEngine(DoublingEngine):
    """Declares a symbolic output and gives what ``give`` makes of each batch's input."""

    def __init__(self, give: Callable[[npt.NDArray[np.generic]], dict[str, npt.NDArray[np.generic]]]) -> None:
        super().__init__(shape=(-1, -1))
        self.give = give

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        return self.give(feeds["INPUT0"])


@pytest.mark.parametrize(
    ("give", "problem"),
    [
        (
            lambda value: {"OUTPUT0": value[:1]},
            r"a warm-up batch of 8 gave shape \[1, 4\], where model.yaml declares \[8, 4\]",
        ),
        (
            lambda value: {"OUTPUT0": value[..., :3]},
            r"gave shape \[8, 3\], where model.yaml declares \[8, 4\]",
        ),
        (lambda value: {"OUTPUT0": value[..., None]}, r"gave shape \[8, 4, 1\]"),
        (lambda value: {"OTHER": value}, "output 'OUTPUT0': the model file gave none"),
    ],
)
def test_a_warm_up_whose_outputs_are_not_what_model_yaml_declares_fails_the_load(
    give: Callable[[npt.NDArray[np.generic]], dict[str, npt.NDArray[np.generic]]], problem: str
) -> None:
    loaded = LoadedVersion(REF, config(), (ShapeEngine(give),))
    with pytest.raises(ModelLoadError, match=problem):
        warm_up(loaded, 2)


def test_a_warm_up_whose_outputs_are_as_declared_gives_the_time_per_row() -> None:
    loaded = LoadedVersion(REF, config(), (ShapeEngine(lambda value: {"OUTPUT0": value * 2}),))
    per_row = warm_up(loaded, 2)
    assert per_row is not None
    assert per_row >= 0
