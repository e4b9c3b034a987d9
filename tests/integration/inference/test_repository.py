"""ModelRepository on real model files: load once, routing, canary, hot reload under load."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gateway.domain import ModelRef, ModelRouting, ModelState
from gateway.errors import GatewayError, ModelNotReadyError
from gateway.inference.engines.base import Engine, EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.repository import ModelRepository
from tests.integration.inference.conftest import ServiceFactory
from tests.support.onnx_models import (
    affine_model_bytes,
    affine_model_document,
    write_affine_model,
    write_model_file,
    write_model_yaml,
)


class CountingFactory:
    """The real ONNX Runtime engine, counting how often a session is created."""

    def __init__(self) -> None:
        self.calls: Counter[Path] = Counter()
        self._lock = threading.Lock()

    def __call__(self, path: Path, options: EngineOptions) -> Engine:
        with self._lock:
            self.calls[path] += 1
        time.sleep(0.05)  # widen the window in which concurrent first requests overlap
        return OnnxEngine(path, options)


def make_repository(
    root: Path, factory: CountingFactory, engines_per_version: int = 1, rng: random.Random | None = None
) -> ModelRepository:
    repository = ModelRepository(
        root, factory, EngineOptions(providers=("cpu",)), engines_per_version=engines_per_version, rng=rng
    )
    repository.scan()
    return repository


def test_concurrent_first_requests_load_a_version_once(models_root: Path) -> None:
    path = write_affine_model(models_root)
    factory = CountingFactory()
    repository = make_repository(models_root, factory, engines_per_version=2)
    barrier = threading.Barrier(8)
    loaded = []

    def first_request() -> None:
        barrier.wait()
        loaded.append(repository.load(ModelRef("affine", 1)))

    threads = [threading.Thread(target=first_request, name=f"first-{index}") for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(loaded) == 8
    assert len({id(version) for version in loaded}) == 1
    assert factory.calls == {path: 1}, "one load: one thread-safe session shared by the workers"
    assert repository.status("affine", 1).state is ModelState.READY
    repository.close()
    assert loaded[0].closed


def test_latest_version_by_default_and_pins(models_root: Path) -> None:
    write_affine_model(models_root, scale=2.0)
    write_affine_model(models_root, version=2, scale=3.0, write_yaml=False)
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()
    assert repository.route("affine", None).ref == ModelRef("affine", 2)
    assert repository.route("affine", 1).ref == ModelRef("affine", 1)
    assert repository.status("affine", None).version == 2
    repository.close()


def test_default_version_from_routing(models_root: Path) -> None:
    write_affine_model(models_root, extra={"routing": {"default_version": 1}})
    write_affine_model(models_root, version=2, write_yaml=False)
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()
    assert {repository.route("affine", None).ref.version for _ in range(50)} == {1}
    repository.close()


def test_canary_weight_routes_roughly_the_configured_share(models_root: Path) -> None:
    write_affine_model(
        models_root, extra={"routing": {"default_version": 1, "canary": {"version": 2, "weight": 0.3}}}
    )
    write_affine_model(models_root, version=2, write_yaml=False)
    repository = make_repository(models_root, CountingFactory(), rng=random.Random(1234))
    repository.load_all()

    versions = Counter(repository.route("affine", None).ref.version for _ in range(4000))

    assert versions[2] / 4000 == pytest.approx(0.3, abs=0.03)
    # A pin is never diverted to the canary.
    assert {repository.route("affine", 1).ref.version for _ in range(200)} == {1}
    assert repository.routing("affine") == ModelRouting(1, 2, 0.3)
    repository.close()


def test_canary_share_reaches_the_callers_through_the_service(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_affine_model(
        models_root,
        scale=2.0,
        extra={"routing": {"default_version": 1, "canary": {"version": 2, "weight": 0.5}}},
    )
    write_affine_model(models_root, version=2, scale=5.0, write_yaml=False)
    service = make_service()
    row = {"INPUT0": np.ones((1, 4), np.float32)}

    results = [service.infer("affine", None, row, None).result(10) for _ in range(200)]

    by_version = Counter(result.model.version for result in results)
    assert 60 <= by_version[2] <= 140
    for result in results:
        expected = 3.0 if result.model.version == 1 else 6.0
        assert result.outputs["OUTPUT0"].tolist() == [[expected] * 4]


def test_removed_version_is_unloaded_and_traffic_moves_on(models_root: Path) -> None:
    write_affine_model(models_root)
    write_affine_model(models_root, version=2, write_yaml=False)
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()
    second = repository.current(ModelRef("affine", 2))

    (models_root / "affine" / "2" / "model.onnx").unlink()
    (models_root / "affine" / "2").rmdir()
    repository.poll()

    assert second.closed
    assert repository.route("affine", None).ref.version == 1
    assert [status.version for status in repository.statuses()] == [1]
    repository.close()


def test_a_broken_rewrite_keeps_the_last_good_version_serving(models_root: Path) -> None:
    write_affine_model(models_root)
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()
    serving = repository.current(ModelRef("affine", 1))

    write_model_file(models_root, "affine", 1, b"garbage")
    repository.poll()

    assert repository.current(ModelRef("affine", 1)) is serving
    assert repository.status("affine", 1).state is ModelState.READY
    # Fixing the file is picked up on the next change.
    write_model_file(models_root, "affine", 1, affine_model_bytes(scale=9.0))
    repository.poll()
    assert repository.current(ModelRef("affine", 1)) is not serving
    assert serving.closed
    repository.close()


def test_a_broken_file_at_start_recovers_when_fixed(models_root: Path) -> None:
    write_affine_model(models_root)
    write_model_file(models_root, "affine", 1, b"garbage")
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()
    assert repository.status("affine", 1).state is ModelState.FAILED
    with pytest.raises(ModelNotReadyError, match="failed"):
        repository.route("affine", None)

    write_model_file(models_root, "affine", 1, affine_model_bytes())
    repository.poll()

    assert repository.status("affine", 1).state is ModelState.READY
    repository.close()


def test_hot_reload_under_load_fails_no_request(models_root: Path, make_service: ServiceFactory) -> None:
    write_affine_model(models_root, scale=2.0)
    service = make_service(poll_interval_s=0.05, max_queue_delay_ms=1.0)
    # What each version may answer for an input of ones: scale + offset, per file written.
    allowed = {1: {3.0}, 2: {4.0}}
    failures: list[BaseException] = []
    answered: Counter[tuple[int, float]] = Counter()
    stop = threading.Event()
    row = {"INPUT0": np.ones((2, 4), np.float32)}

    def client() -> None:
        while not stop.is_set():
            try:
                result = service.infer("affine", None, row, time.monotonic() + 5).result(timeout=5)
            except GatewayError as exc:
                failures.append(exc)
                continue
            value = float(result.outputs["OUTPUT0"][0, 0])
            answered[(result.model.version, value)] += 1
            if value not in allowed[result.model.version]:
                failures.append(AssertionError(f"{result.model} answered {value}"))

    clients = [threading.Thread(target=client, name=f"client-{index}") for index in range(4)]
    for thread in clients:
        thread.start()
    try:
        wait_for(lambda: answered[(1, 3.0)] > 20)
        # A new version is dropped in: traffic moves to it once it is warm.
        write_affine_model(models_root, version=2, scale=3.0, write_yaml=False)
        wait_for(lambda: answered[(2, 4.0)] > 20)
        # The new version's file is rewritten in place (not atomically), then atomically.
        allowed[2].add(5.0)
        (models_root / "affine" / "2" / "model.onnx").write_bytes(affine_model_bytes(scale=4.0))
        wait_for(lambda: answered[(2, 5.0)] > 20)
        allowed[2].add(7.0)
        write_model_file(models_root, "affine", 2, affine_model_bytes(scale=6.0))
        wait_for(lambda: answered[(2, 7.0)] > 20)
    finally:
        stop.set()
        for thread in clients:
            thread.join(10)
    assert failures == []


def wait_for(condition: object, timeout: float = 15.0) -> None:
    assert callable(condition)
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "condition not reached in time"
        time.sleep(0.01)


def test_a_model_yaml_change_reloads_with_the_new_routing(models_root: Path) -> None:
    write_affine_model(models_root, extra={"routing": {"default_version": 1}})
    write_affine_model(models_root, version=2, write_yaml=False)
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()
    assert repository.route("affine", None).ref.version == 1

    write_affine_model(models_root, version=2, extra={"routing": {"default_version": 2}})
    repository.poll()

    assert repository.route("affine", None).ref.version == 2
    repository.close()


def test_a_broken_model_yaml_rewrite_keeps_the_last_good_config_serving(models_root: Path) -> None:
    write_affine_model(models_root)
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()
    serving = repository.current(ModelRef("affine", 1))

    (models_root / "affine" / "model.yaml").write_text("inputs: oops\n")
    repository.poll()

    assert repository.route("affine", None) is serving
    assert repository.status("affine", 1).state is ModelState.READY
    repository.close()


def test_a_model_yaml_whose_output_dims_the_model_does_not_give_fails_at_load(models_root: Path) -> None:
    # The file's dimension is symbolic ("width"), so only running it shows that it gives 4, not 5.
    document = affine_model_document()
    document["outputs"][0]["dims"] = [5]
    write_model_yaml(models_root, "affine", document)
    write_model_file(models_root, "affine", 1, affine_model_bytes(dims=("width",)))
    repository = make_repository(models_root, CountingFactory())
    repository.load_all()

    status = repository.status("affine", 1)
    assert status.state is ModelState.FAILED
    assert "output 'OUTPUT0': a warm-up batch of 8 gave shape [8, 4], where model.yaml declares [8, 5]" in (
        status.reason or ""
    )
    # With the dimension declared as the model gives it, the same file loads.
    document["outputs"][0]["dims"] = [4]
    write_model_yaml(models_root, "affine", document)
    repository.poll()
    assert repository.status("affine", 1).state is ModelState.READY
    repository.close()
