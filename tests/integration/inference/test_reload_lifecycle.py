"""The model repository's lifecycle while requests and frames arrive: a model.yaml that does not
parse, versions of an on-demand model that load in any order, a canary on one, and a version
swapped for one with other inputs while items wait in the queue (real ONNX Runtime sessions)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from gateway.domain import ModelRef, ModelReference
from gateway.errors import ModelLoadError, ModelNotReadyError
from gateway.inference.batcher import Batcher
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.pool import WorkerPool
from gateway.inference.repository import ModelRepository
from gateway.inference.service import InferenceService
from tests.integration.inference.conftest import ServiceFactory, run_queued
from tests.support.onnx_models import (
    affine_model_bytes,
    affine_model_document,
    write_affine_model,
    write_mean_score_model,
    write_model_file,
    write_model_yaml,
)

ROW = np.arange(4, dtype=np.float32)[np.newaxis]
WAIT_S = 30.0


def version_answering(service: InferenceService, version: int | None = None) -> int:
    """The version that answers one request for ``affine`` (pinned to ``version`` if given)."""
    return service.infer("affine", version, {"INPUT0": ROW}, None).result(timeout=WAIT_S).model.version


@pytest.mark.parametrize("preload", ["all", "cameras"])
def test_a_model_yaml_that_does_not_parse_fails_requests_and_frames_with_its_reason(
    models_root: Path, make_service: ServiceFactory, preload: str
) -> None:
    # Given a model whose model.yaml is broken when the gateway starts (preloaded or on demand)
    write_affine_model(models_root)
    (models_root / "affine" / "model.yaml").write_text("inputs: [unclosed\n")
    service = make_service(preload=preload)
    # Then a request and a camera frame without a version are refused with the file's problem
    # (they failed an assertion: a 500, and a dead sampler thread for every camera)
    with pytest.raises(ModelNotReadyError, match=r"model\.yaml"):
        service.infer("affine", None, {"INPUT0": ROW}, None)
    frame = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ModelNotReadyError, match=r"model\.yaml"):
        service.submit_frame(ModelReference("affine"), frame, None)


def test_a_request_without_a_version_gets_the_highest_one_after_a_pinned_request_loaded_a_lower(
    models_root: Path, make_service: ServiceFactory
) -> None:
    # Given an on-demand model with two versions
    write_affine_model(models_root, version=1)
    write_affine_model(models_root, version=2, scale=3.0, write_yaml=False)
    service = make_service(preload="cameras")
    # When a request pinned to version 1 loads that one first
    assert version_answering(service, 1) == 1
    # Then a request without a version still goes to the highest, loading it
    assert version_answering(service) == 2


def test_a_fixed_version_of_a_model_in_use_serves_again_after_hot_reload(
    models_root: Path, make_service: ServiceFactory
) -> None:
    # Given an on-demand model in use whose version 2 is broken: version 1 answers
    write_affine_model(models_root, version=1)
    write_model_file(models_root, "affine", 2, b"not an onnx model")
    service = make_service(preload="cameras")
    assert version_answering(service, 1) == 1
    assert version_answering(service) == 1
    # When version 2's file is fixed
    write_model_file(models_root, "affine", 2, affine_model_bytes(scale=3.0))
    service.repository.poll()
    # Then requests without a version go to it again (it stayed unloaded behind version 1)
    assert version_answering(service) == 2


def test_the_canary_of_an_on_demand_model_gets_its_share(
    models_root: Path, make_service: ServiceFactory
) -> None:
    # Given an on-demand model whose canary (version 1) takes every unpinned request
    extra = {"routing": {"canary": {"version": 1, "weight": 1.0}}}
    write_affine_model(models_root, version=1, extra=extra)
    write_affine_model(models_root, version=2, scale=3.0, write_yaml=False)
    service = make_service(preload="cameras")
    # Then the canary loads and answers them (the default version alone was loaded)
    assert {version_answering(service) for _ in range(3)} == {1}


def test_a_request_queued_before_its_version_changes_inputs_is_told_to_retry(
    models_root: Path, queued_service: tuple[InferenceService, Batcher, WorkerPool]
) -> None:
    service, batcher, pool = queued_service
    write_affine_model(models_root)
    service.repository.scan()
    service.repository.load_all()
    # Given a request checked against version 1 ([4] per row), waiting in the queue
    waiting = service.infer("affine", None, {"INPUT0": ROW}, None)
    # When version 1 is replaced by one that takes [6] per row
    write_model_file(models_root, "affine", 1, affine_model_bytes(dims=(6,)))
    write_model_yaml(models_root, "affine", affine_model_document(dims=(6,)))
    service.repository.poll()
    assert service.status("affine", 1).inputs[0].shape == (-1, 6)
    run_queued(batcher, pool)
    # Then it is told the model changed (503: send it again), not blamed for ONNX Runtime's
    # "invalid dimensions" (a 400 for a request that was valid when sent)
    with pytest.raises(ModelNotReadyError, match="replaced while the request waited"):
        waiting.result(timeout=WAIT_S)


def test_a_queued_request_runs_on_a_replacement_that_takes_the_same_inputs(
    models_root: Path, queued_service: tuple[InferenceService, Batcher, WorkerPool]
) -> None:
    service, batcher, pool = queued_service
    write_affine_model(models_root)
    service.repository.scan()
    service.repository.load_all()
    waiting = service.infer("affine", None, {"INPUT0": ROW}, None)
    # When the file is replaced by new weights with the same inputs and outputs
    write_model_file(models_root, "affine", 1, affine_model_bytes(scale=10.0, offset=0.0))
    service.repository.poll()
    run_queued(batcher, pool)
    # Then the waiting request is answered by the new weights
    assert waiting.result(timeout=WAIT_S).outputs["OUTPUT0"].tolist() == [[0.0, 10.0, 20.0, 30.0]]


def test_a_frame_queued_before_its_model_changes_its_frame_size_is_refused_by_name(
    models_root: Path, queued_service: tuple[InferenceService, Batcher, WorkerPool]
) -> None:
    service, batcher, pool = queued_service
    write_mean_score_model(models_root, "score", size=8)
    service.repository.scan()
    service.repository.load_all()
    # Given a camera frame prepared for the 8x8 input, waiting in the queue
    frame = np.full((32, 32, 3), 255, np.uint8)
    waiting = service.submit_frame(ModelReference("score"), frame, None)
    # When the model is replaced by one that takes 16x16 frames
    write_mean_score_model(models_root, "score", size=16)
    service.repository.poll()
    assert service.status("score", 1).inputs[0].shape == (-1, 3, 16, 16)
    run_queued(batcher, pool)
    # Then the frame fails with the reason, and the next frame is prepared for the new size
    with pytest.raises(ModelNotReadyError, match="replaced while the request waited"):
        waiting.result(timeout=WAIT_S)
    following = service.submit_frame(ModelReference("score"), frame, None)
    run_queued(batcher, pool)
    assert following.result(timeout=WAIT_S).model == ModelRef("score", 1)


def test_a_repository_that_is_gone_for_a_moment_keeps_serving_what_it_loaded(
    tmp_path: Path, models_root: Path, make_service: ServiceFactory
) -> None:
    # Given a loaded model
    write_affine_model(models_root)
    service = make_service()
    loaded = service.repository.current(ModelRef("affine", 1))
    # When the repository directory goes away between two polls (a link replaced, a remount)
    models_root.rename(tmp_path / "elsewhere")
    service.repository.poll()
    # Then the model still answers (it was unloaded: every camera and client lost it), and when the
    # directory is back the same engines go on, not reloaded
    assert version_answering(service) == 1
    (tmp_path / "elsewhere").rename(models_root)
    service.repository.poll()
    assert service.repository.current(ModelRef("affine", 1)) is loaded
    assert version_answering(service) == 1


def test_the_request_that_loads_a_broken_version_is_told_which_version_failed(
    models_root: Path, make_service: ServiceFactory
) -> None:
    # Given an on-demand model whose file does not match its model.yaml
    write_model_yaml(models_root, "affine", affine_model_document(dims=(4,)))
    write_model_file(models_root, "affine", 1, affine_model_bytes(dims=(6,)))
    service = make_service(preload="cameras")
    # Then the request whose arrival loads it, and the next, name the version that failed and why
    # (the first was told only "input 'INPUT0': dimension 1 is 6 ...", naming no model)
    reason = r"^model affine:1 failed to load: input 'INPUT0': dimension 1 is 6"
    with pytest.raises(ModelLoadError, match=reason):
        service.infer("affine", None, {"INPUT0": ROW}, None).result(timeout=WAIT_S)
    with pytest.raises(ModelNotReadyError, match=reason):
        service.infer("affine", None, {"INPUT0": ROW}, None)


def test_a_frame_queued_before_its_threshold_is_edited_is_still_answered(
    models_root: Path, queued_service: tuple[InferenceService, Batcher, WorkerPool]
) -> None:
    service, batcher, pool = queued_service
    write_mean_score_model(models_root, "score", threshold=0.5)
    service.repository.scan()
    service.repository.load_all()
    # Given a white frame waiting in the queue
    waiting = service.submit_frame(ModelReference("score"), np.full((32, 32, 3), 255, np.uint8), None)
    # When model.yaml's threshold is edited (the version reloads with the same tensors)
    write_mean_score_model(models_root, "score", threshold=0.9)
    service.repository.poll()
    run_queued(batcher, pool)
    # Then the frame is answered, decoded as it was submitted
    assert [detection.label for detection in waiting.result(timeout=WAIT_S).detections] == ["anomaly"]


@pytest.mark.parametrize("removed", ["affine/2", "affine"])
def test_a_request_queued_before_its_version_is_removed_is_told_to_retry(
    models_root: Path, queued_service: tuple[InferenceService, Batcher, WorkerPool], removed: str
) -> None:
    service, batcher, pool = queued_service
    write_affine_model(models_root, version=1)
    write_affine_model(models_root, version=2, write_yaml=False)
    service.repository.scan()
    service.repository.load_all()
    # Given a request without a version, routed to version 2 and waiting in the queue
    waiting = service.infer("affine", None, {"INPUT0": ROW}, None)
    # When version 2 (or the whole model) is removed
    shutil.rmtree(models_root / removed)
    service.repository.poll()
    run_queued(batcher, pool)
    # Then it is told to send it again (503), not that a version it never named does not exist (404)
    with pytest.raises(ModelNotReadyError, match=r"^model affine:2 was removed from the repository while"):
        waiting.result(timeout=WAIT_S)


def test_a_model_file_that_is_a_fifo_fails_to_load_instead_of_hanging_the_repository(
    models_root: Path,
) -> None:
    # Given a model whose model.onnx is a FIFO nothing writes to, next to a good model
    write_affine_model(models_root, "good")
    write_model_yaml(models_root, "piped", affine_model_document())
    (models_root / "piped" / "1").mkdir()
    fifo = models_root / "piped" / "1" / "model.onnx"
    os.mkfifo(fifo)
    repository = ModelRepository(models_root, OnnxEngine, EngineOptions(providers=("cpu",)), warmup_batches=1)

    def load() -> None:
        repository.scan()
        repository.load_all()

    loading = threading.Thread(target=load, name="test-load")
    loading.start()
    loading.join(WAIT_S)
    hung = loading.is_alive()
    if hung:  # ONNX Runtime's open blocked until a writer came: be that writer, so the thread ends
        with fifo.open("wb"):
            pass
        loading.join(WAIT_S)
    # Then the load finishes, the FIFO is refused by name and the good model serves
    assert not hung, "loading a FIFO model file blocked the repository"
    status = repository.status("piped", 1)
    assert status.reason is not None
    assert status.reason.endswith("is not a regular file (a FIFO, socket or device), not a model file")
    assert repository.route("good", None).ref == ModelRef("good", 1)
    repository.close()


def test_a_model_yaml_that_is_a_fifo_is_a_config_error_instead_of_hanging_hot_reload(
    models_root: Path,
) -> None:
    # Given a model whose model.yaml is a FIFO nothing writes to, next to a good model
    write_affine_model(models_root, "good")
    write_model_file(models_root, "piped", 1, affine_model_bytes())
    fifo = models_root / "piped" / "model.yaml"
    os.mkfifo(fifo)
    repository = ModelRepository(models_root, OnnxEngine, EngineOptions(providers=("cpu",)), warmup_batches=1)

    def run_passes() -> None:
        repository.scan()
        repository.load_all()
        repository.poll()

    passes = threading.Thread(target=run_passes, name="test-passes")
    passes.start()
    passes.join(WAIT_S)
    hung = passes.is_alive()
    if hung:  # opening it blocked the pass (the poll thread, for good) until a writer came
        with fifo.open("wb"):
            pass
        passes.join(WAIT_S)
    # Then the pass finishes, the model's status names the problem and the good model serves
    assert not hung, "reading a FIFO model.yaml blocked the reload pass"
    assert (
        repository.status("piped", 1).reason
        == f"model.yaml: {fifo}: cannot read: a FIFO or socket, not a file"
    )
    assert repository.route("good", None).ref == ModelRef("good", 1)
    repository.close()
