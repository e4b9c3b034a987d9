"""Models no camera uses load on their first request; the wait estimate follows real batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.domain import ModelRef, ModelState
from gateway.errors import ModelLoadError
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.repository import ModelRepository
from tests.integration.inference.conftest import ServiceFactory
from tests.support.onnx_models import write_affine_model, write_broken_model


def test_a_model_no_camera_uses_loads_on_its_first_request(
    models_root: Path, make_service: ServiceFactory
) -> None:
    # Given a repository whose model no camera uses, served with the default preload
    write_affine_model(models_root)
    service = make_service(preload="cameras", workers=2)
    # Then nothing is loaded at start, and the status says why
    status = service.status("affine", None)
    assert status.state is ModelState.UNLOADED
    assert status.reason == "loads on its first request"
    assert service.service_time_s("affine") is None
    # When concurrent first requests arrive, then each is answered once the one load is warm
    rows = [np.full((1, 4), index, np.float32) for index in range(4)]
    futures = [service.infer("affine", None, {"INPUT0": row}, None) for row in rows]
    for index, future in enumerate(futures):
        assert future.result(timeout=30).outputs["OUTPUT0"].tolist() == [[index * 2.0 + 1.0] * 4]
    assert service.status("affine", None).state is ModelState.READY
    assert (
        service.repository.current(service.status("affine", None).ref).engines[0]
        is (service.repository.current(service.status("affine", None).ref).engines[1])
    ), "the two workers share one thread-safe session"
    per_item = service.service_time_s("affine")
    assert per_item is not None
    assert per_item > 0


def test_a_model_that_fails_to_load_on_demand_fails_its_request(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_broken_model(models_root, "broken")
    service = make_service(preload="cameras")
    future = service.infer("broken", None, {"INPUT0": np.zeros((1, 4), np.float32)}, None)
    with pytest.raises(ModelLoadError, match="broken"):
        future.result(timeout=30)
    assert service.status("broken", None).state is ModelState.FAILED


def test_expected_wait_counts_the_queue_and_what_is_pending(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_affine_model(models_root)
    service = make_service(workers=1, warmup_batches=2)
    measured = service.service_time_s("affine")
    assert measured is not None, "warm-up gives the first service time"
    assert service.expected_wait_s({}) == 0.0, "an idle worker takes the next item at once"
    # One worker, items pending: the new item waits for each of them in turn
    assert service.expected_wait_s({"affine": 1}) == pytest.approx(measured, rel=1e-6)
    assert service.expected_wait_s({"affine": 3}) == pytest.approx(3 * measured, rel=1e-6)


def test_hot_reload_loads_new_versions_of_models_in_use_only(models_root: Path) -> None:
    # Given two on-demand models, one of which has served a request
    write_affine_model(models_root, "used")
    write_affine_model(models_root, "idle")
    repository = ModelRepository(
        models_root, OnnxEngine, EngineOptions(providers=("cpu",)), preload=lambda _: False
    )
    repository.scan()
    repository.load_all()
    assert repository.unloaded("used", None) == ModelRef("used", 1)
    repository.load(ModelRef("used", 1))
    assert repository.unloaded("used", None) is None
    # When both get a version 2
    write_affine_model(models_root, "used", version=2, write_yaml=False)
    write_affine_model(models_root, "idle", version=2, write_yaml=False)
    repository.poll()
    # Then the model in use loads and routes to it, the idle one stays unloaded until asked
    assert repository.status("used", 2).state is ModelState.READY
    assert repository.route("used", None).ref == ModelRef("used", 2)
    assert repository.status("idle", 2).state is ModelState.UNLOADED
    assert repository.unloaded("idle", None) == ModelRef("idle", 2)
    repository.close()
