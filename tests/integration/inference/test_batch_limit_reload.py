"""Items queued before a reload lowered the model's ``max_batch_size`` (real ONNX Runtime sessions):
no batch runs with more rows than the version that runs it takes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.domain import ModelRef
from gateway.errors import ModelNotReadyError
from gateway.inference.batcher import Batcher
from gateway.inference.pool import WorkerPool
from gateway.inference.service import InferenceService
from tests.integration.inference.conftest import run_queued
from tests.support.onnx_models import (
    affine_expected,
    affine_model_document,
    write_affine_model,
    write_model_yaml,
)

WAIT_S = 30.0
AFFINE_1 = ModelRef("affine", 1)


def lower_the_limit(models_root: Path, service: InferenceService, limit: int) -> None:
    write_model_yaml(models_root, "affine", affine_model_document(max_batch_size=limit))
    service.repository.poll()
    assert service.status("affine", 1).max_batch_size == limit


def batch_sizes_run(pool: WorkerPool) -> list[int]:
    return [batch.batch_size for batch in pool.statistics.of(AFFINE_1).batches]


def test_a_queued_request_with_more_rows_than_the_new_limit_is_told_to_send_again(
    models_root: Path, queued_service: tuple[InferenceService, Batcher, WorkerPool]
) -> None:
    service, batcher, pool = queued_service
    write_affine_model(models_root, max_batch_size=8)
    service.repository.scan()
    service.repository.load_all()
    # Given a request of 4 rows, checked against max_batch_size 8, waiting in the queue
    waiting = service.infer("affine", None, {"INPUT0": np.ones((4, 4), dtype=np.float32)}, None)
    # When a reload lowers max_batch_size to 2
    lower_the_limit(models_root, service, 2)
    run_queued(batcher, pool)
    # Then it is told why, to send it again (503), and no batch of 4 rows ran
    with pytest.raises(
        ModelNotReadyError, match=r"takes at most 2 rows a request \(this one has 4\); send it again"
    ):
        waiting.result(timeout=WAIT_S)
    assert batch_sizes_run(pool) == []


def test_queued_requests_merged_past_the_new_limit_run_in_batches_within_it(
    models_root: Path, queued_service: tuple[InferenceService, Batcher, WorkerPool]
) -> None:
    service, batcher, pool = queued_service
    write_affine_model(models_root, max_batch_size=8)
    service.repository.scan()
    service.repository.load_all()
    # Given three requests of 2 rows each, queued while the limit was 8 (one batch of 6)
    requests = [np.full((2, 4), index, dtype=np.float32) for index in range(3)]
    waiting = [service.infer("affine", None, {"INPUT0": rows}, None) for rows in requests]
    # When a reload lowers max_batch_size to 4
    lower_the_limit(models_root, service, 4)
    run_queued(batcher, pool)
    # Then every request is answered with its own rows, by batches of at most 4 rows
    for rows, future in zip(requests, waiting, strict=True):
        assert np.array_equal(future.result(timeout=WAIT_S).outputs["OUTPUT0"], affine_expected(rows))
    assert sorted(batch_sizes_run(pool)) == [2, 4]
