"""InferenceService on real ONNX Runtime sessions over real model files."""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from prometheus_client import CollectorRegistry

from gateway.api.ports import InferenceBackend, InferenceOutput
from gateway.config import GatewayConfig
from gateway.domain import ModelRef, ModelReference, ModelState
from gateway.errors import (
    DeadlineExceededError,
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
    OverloadedError,
)
from gateway.inference.service import InferenceService
from tests.integration.inference.conftest import ServiceFactory
from tests.support.onnx_models import (
    affine_model_bytes,
    affine_model_document,
    write_affine_model,
    write_broken_model,
    write_mean_score_model,
    write_model_file,
    write_model_yaml,
)


def batch_sizes(registry: CollectorRegistry, ref: ModelRef) -> tuple[float, float]:
    """(number of batches, total rows) from the batch size histogram."""
    labels = {"model": ref.name, "version": str(ref.version)}
    count = registry.get_sample_value("edge_gateway_inference_batch_size_count", labels) or 0.0
    total = registry.get_sample_value("edge_gateway_inference_batch_size_sum", labels) or 0.0
    return count, total


def test_service_satisfies_the_api_port(models_root: Path, make_service: ServiceFactory) -> None:
    write_affine_model(models_root)
    backend: InferenceBackend = make_service()
    assert backend.ready()
    assert backend.queue_fill() == 0.0


def test_outputs_equal_in_process_onnxruntime_bit_for_bit(
    models_root: Path, make_service: ServiceFactory
) -> None:
    path = write_affine_model(models_root, dims=(3, 5), scale=0.37, offset=-1.25)
    service = make_service(max_queue_delay_ms=20.0)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = np.random.default_rng(7)
    requests = [generator.standard_normal((rows, 3, 5)).astype(np.float32) for rows in (1, 3, 2, 1, 1)]

    # When: submitted together, so the batcher merges them into shared batches
    futures = [service.infer("affine", None, {"INPUT0": request}, None) for request in requests]

    for request, future in zip(requests, futures, strict=True):
        result = future.result(timeout=10)
        expected = session.run(None, {"INPUT0": request})[0]
        assert result.model == ModelRef("affine", 1)
        assert result.outputs["OUTPUT0"].dtype == expected.dtype
        assert result.outputs["OUTPUT0"].tobytes() == expected.tobytes()


def test_a_dynamic_size_model_merges_only_items_of_one_size_and_answers_each(
    models_root: Path, make_service: ServiceFactory, registry: CollectorRegistry
) -> None:
    write_model_yaml(models_root, "affine", affine_model_document(dims=(-1,)))
    write_model_file(models_root, "affine", 1, affine_model_bytes(dims=("width",)))
    service = make_service(workers=1, max_queue_delay_ms=50.0, max_batch_size=8)
    inputs = [np.full((1, width), width, np.float32) for width in (4, 4, 6, 6, 4)]

    # When: queued together, as a camera's frames and a client's tensors of another size are
    futures = [service.infer("affine", 1, {"INPUT0": row}, None) for row in inputs]

    for row, future in zip(inputs, futures, strict=True):
        assert future.result(timeout=10).outputs["OUTPUT0"].tolist() == (row * 2 + 1).tolist()
    batches, rows = batch_sizes(registry, ModelRef("affine", 1))
    assert rows == 5
    assert batches < 5, "no two items of one size were merged"


def test_batching_merges_concurrent_submissions_and_never_exceeds_max_batch_size(
    models_root: Path, make_service: ServiceFactory, registry: CollectorRegistry
) -> None:
    write_affine_model(models_root, max_batch_size=4)
    service = make_service(workers=1, max_queue_delay_ms=50.0, max_batch_size=8, queue_capacity=64)
    inputs = [np.full((1, 4), index, np.float32) for index in range(20)]

    futures = [service.infer("affine", 1, {"INPUT0": row}, None) for row in inputs]

    for index, future in enumerate(futures):
        assert future.result(timeout=10).outputs["OUTPUT0"].tolist() == [[index * 2.0 + 1.0] * 4]
    batches, rows = batch_sizes(registry, ModelRef("affine", 1))
    assert rows == 20
    assert batches < 20, "no two submissions were merged"
    # The model's max_batch_size (4) wins over the inference setting (8): 20 rows need >= 5 batches.
    over_limit = registry.get_sample_value(
        "edge_gateway_inference_batch_size_bucket", {"model": "affine", "version": "1", "le": "4.0"}
    )
    assert over_limit == batches, "a batch larger than max_batch_size ran"


def test_a_request_with_several_rows_is_split_back_in_order(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_affine_model(models_root)
    service = make_service(workers=1, max_queue_delay_ms=30.0, max_batch_size=8)
    first = np.arange(8, dtype=np.float32).reshape(2, 4)
    second = np.arange(12, dtype=np.float32).reshape(3, 4) + 100

    futures = [service.infer("affine", None, {"INPUT0": array}, None) for array in (first, second)]

    assert np.array_equal(futures[0].result(10).outputs["OUTPUT0"], first * 2 + 1)
    assert np.array_equal(futures[1].result(10).outputs["OUTPUT0"], second * 2 + 1)


def test_an_item_whose_deadline_passes_in_the_queue_fails_with_deadline_exceeded(
    models_root: Path, make_service: ServiceFactory, registry: CollectorRegistry
) -> None:
    write_affine_model(models_root)
    # The batch waits 300 ms to fill (merging items, as max_batch_size is set), far beyond the 20 ms
    # deadline.
    service = make_service(workers=1, max_queue_delay_ms=300.0, max_batch_size=8)

    doomed = service.infer("affine", None, {"INPUT0": np.ones((1, 4), np.float32)}, time.monotonic() + 0.02)
    patient = service.infer("affine", None, {"INPUT0": np.ones((1, 4), np.float32)}, time.monotonic() + 10)

    with pytest.raises(DeadlineExceededError):
        doomed.result(timeout=10)
    assert patient.result(timeout=10).outputs["OUTPUT0"].tolist() == [[3.0] * 4]
    assert registry.get_sample_value("edge_gateway_inference_drops_total", {"reason": "deadline"}) == 1.0


def test_an_already_expired_deadline_fails_without_queueing(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_affine_model(models_root)
    service = make_service()
    future = service.infer("affine", None, {"INPUT0": np.ones((1, 4), np.float32)}, time.monotonic() - 1)
    with pytest.raises(DeadlineExceededError):
        future.result(timeout=1)


def test_a_full_queue_raises_overloaded_at_submit(
    models_root: Path, make_service: ServiceFactory, registry: CollectorRegistry
) -> None:
    write_affine_model(models_root)
    service = make_service(workers=1, queue_capacity=3, max_queue_delay_ms=1000.0)
    row = {"INPUT0": np.ones((1, 4), np.float32)}
    queued = [service.infer("affine", None, row, None) for _ in range(3)]
    assert service.queue_fill() == 1.0

    with pytest.raises(OverloadedError):
        service.infer("affine", None, row, None)

    assert registry.get_sample_value("edge_gateway_inference_drops_total", {"reason": "queue_full"}) == 1.0
    for future in queued:  # the admitted ones still run
        assert future.result(timeout=10).outputs["OUTPUT0"].tolist() == [[3.0] * 4]


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({"WRONG": np.ones((1, 4), np.float32)}, "missing \\['INPUT0'\\], unknown \\['WRONG'\\]"),
        ({"INPUT0": np.ones((1, 4), np.float64)}, "is FP32, got numpy float64"),
        ({"INPUT0": np.ones((1, 5), np.float32)}, "has shape \\[-1, 4\\], got \\[1, 5\\]"),
        ({"INPUT0": np.ones(4, np.float32)}, "has shape \\[-1, 4\\], got \\[4\\]"),
        ({"INPUT0": np.ones((9, 4), np.float32)}, "batch size 9 is outside 1..8"),
        ({"INPUT0": np.ones((0, 4), np.float32)}, "batch size 0 is outside 1..8"),
    ],
)
def test_invalid_inputs_are_refused_naming_the_problem(
    models_root: Path, make_service: ServiceFactory, inputs: dict[str, np.ndarray], problem: str
) -> None:
    write_affine_model(models_root)
    service = make_service()
    with pytest.raises(InvalidInputError, match=problem):
        service.infer("affine", None, inputs, None)


def test_unknown_and_failed_models_raise_before_queueing(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_affine_model(models_root)
    write_broken_model(models_root)
    service = make_service()
    row = {"INPUT0": np.ones((1, 4), np.float32)}
    with pytest.raises(ModelNotFoundError):
        service.infer("missing", None, row, None)
    with pytest.raises(ModelNotFoundError):
        service.infer("affine", 7, row, None)
    with pytest.raises(ModelNotReadyError, match="failed"):
        service.infer("broken", None, row, None)


def test_broken_model_is_failed_with_its_reason_while_others_serve(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_affine_model(models_root)
    write_broken_model(models_root)
    (models_root / "bad-yaml").mkdir()
    (models_root / "bad-yaml" / "model.yaml").write_text("max_batch_size: many\n")
    write_affine_model(models_root, "bad-yaml", write_yaml=False)

    service = make_service()

    broken = service.status("broken", 1)
    assert broken.state is ModelState.FAILED
    assert broken.reason is not None
    assert "broken/1/model.onnx" in broken.reason
    assert "Protobuf parsing failed" in broken.reason
    bad_yaml = service.status("bad-yaml", None)
    assert bad_yaml.state is ModelState.FAILED
    assert bad_yaml.reason is not None
    assert "model.yaml" in bad_yaml.reason
    assert "max_batch_size" in bad_yaml.reason
    assert service.status("affine", None).state is ModelState.READY
    assert service.ready()
    result = service.infer("affine", None, {"INPUT0": np.ones((1, 4), np.float32)}, None).result(10)
    assert result.outputs["OUTPUT0"].tolist() == [[3.0] * 4]
    assert {(status.name, status.state) for status in service.models()} == {
        ("affine", ModelState.READY),
        ("broken", ModelState.FAILED),
        ("bad-yaml", ModelState.FAILED),
    }


def test_model_file_that_disagrees_with_model_yaml_is_failed(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_affine_model(models_root, dims=(4,))
    write_affine_model(models_root, "mismatch", dims=(4,))
    write_affine_model(models_root, "mismatch", dims=(6,), write_yaml=False)
    service = make_service()
    status = service.status("mismatch", 1)
    assert status.state is ModelState.FAILED
    assert status.reason is not None
    assert "dimension 1 is 6 in the model file, 4 in model.yaml" in status.reason


def test_detect_runs_preprocess_and_postprocess_on_a_real_model(
    models_root: Path, make_service: ServiceFactory
) -> None:
    write_mean_score_model(models_root, threshold=0.5)
    service = make_service(max_queue_delay_ms=10.0)
    white = np.full((24, 32, 3), 255, np.uint8)
    black = np.zeros((24, 32, 3), np.uint8)

    anomalous = service.detect("mean-score", None, white, None).result(10)
    quiet = service.submit_frame(ModelReference("mean-score", 1), black, time.monotonic() + 5).result(10)

    assert anomalous.model == ModelRef("mean-score", 1)
    assert anomalous.anomaly_score == pytest.approx(1.0)
    assert [detection.label for detection in anomalous.detections] == ["anomaly"]
    assert quiet.anomaly_score == pytest.approx(0.0)
    assert quiet.detections == ()


def test_detect_on_a_raw_tensor_model_is_refused(models_root: Path, make_service: ServiceFactory) -> None:
    write_affine_model(models_root)
    service = make_service()
    with pytest.raises(InvalidInputError, match="raw tensors only"):
        service.detect("affine", None, np.zeros((8, 8, 3), np.uint8), None)


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
@pytest.mark.parametrize(
    ("inference", "increment", "session_threads"),
    [({}, 10, 0), ({"worker_nice": 0}, 0, 0), ({"intra_op_threads": 3}, 10, 2)],
)
def test_workers_run_at_the_configured_nice_increment_and_still_serve(
    models_root: Path,
    make_service: ServiceFactory,
    inference: dict[str, int],
    increment: int,
    session_threads: int,
) -> None:
    write_affine_model(models_root)
    before = set(threading.enumerate())
    native_before = set(os.listdir("/proc/self/task"))
    service = make_service(workers=2, **inference)
    workers = [thread for thread in threading.enumerate() if thread.name.startswith("inference-worker-")]
    assert len(workers) == 2
    assert not set(workers) & before
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert {os.getpriority(os.PRIO_PROCESS, thread.native_id or 0) for thread in workers} == {
        min(19, own + increment)
    }
    # Threads Python did not start: ONNX Runtime's intra-op pool, one per session thread but the
    # caller's, started with the session (counted, not listed: a thread another test left may start
    # one of its own meanwhile).
    python_threads = {str(thread.native_id) for thread in threading.enumerate()}
    session_pool = set(os.listdir("/proc/self/task")) - native_before - python_threads
    lowered = [
        thread
        for thread in session_pool
        if os.getpriority(os.PRIO_PROCESS, int(thread)) == min(19, own + increment)
    ]
    assert len(lowered) >= session_threads
    answer = service.infer("affine", None, {"INPUT0": np.ones((1, 4), np.float32)}, None).result(5)
    assert answer.outputs["OUTPUT0"].shape == (1, 4)


def test_stop_ends_every_thread_and_fails_queued_items(
    models_root: Path, registry: CollectorRegistry
) -> None:
    write_affine_model(models_root)
    before = set(threading.enumerate())
    config = GatewayConfig.model_validate(
        {
            "state_dir": models_root.parent / "state",
            "models": {"repository": models_root, "poll_interval_s": 0.05, "preload": "all"},
            "inference": {"providers": ["cpu"], "workers": 2, "max_queue_delay_ms": 5000.0},
        }
    )
    service = InferenceService.from_config(config, registry)
    service.start()
    names = {thread.name for thread in threading.enumerate()} - {thread.name for thread in before}
    assert names == {"inference-worker-0", "inference-worker-1", "model-repository-poll"}
    queued: Future[InferenceOutput] = service.infer(
        "affine", None, {"INPUT0": np.ones((1, 4), np.float32)}, None
    )

    service.stop()

    assert not service.ready()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(Exception, match="stopped before the item ran"):
        queued.result(timeout=1)
    assert service.repository.statuses() == []
