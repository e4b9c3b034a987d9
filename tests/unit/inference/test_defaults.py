"""Pool defaults follow the execution provider."""

from __future__ import annotations

import os

import pytest

from gateway.config import GatewayConfig
from gateway.inference.defaults import (
    camera_models,
    default_merge_limit,
    default_queue_delay_ms,
    default_workers,
)


def test_one_worker_per_usable_core_on_cpu_and_one_on_gpus() -> None:
    assert default_workers("CPUExecutionProvider") == len(os.sched_getaffinity(0))
    assert default_workers(None) == len(os.sched_getaffinity(0))
    assert default_workers("CUDAExecutionProvider") == 1
    assert default_workers("TensorrtExecutionProvider") == 1


@pytest.mark.parametrize(
    ("provider", "explicit", "expected"),
    [
        ("CPUExecutionProvider", set(), 0.0),
        ("CPUExecutionProvider", {"max_queue_delay_ms"}, 5.0),
        ("CUDAExecutionProvider", set(), 5.0),
        ("TensorrtExecutionProvider", {"workers"}, 5.0),
    ],
)
def test_batches_wait_only_where_batching_pays(provider: str, explicit: set[str], expected: float) -> None:
    assert default_queue_delay_ms(provider, 5.0, explicit) == expected


@pytest.mark.parametrize(
    ("provider", "explicit", "expected"),
    [
        ("CPUExecutionProvider", set(), 1),
        (None, set(), 1),
        ("CPUExecutionProvider", {"max_batch_size"}, 8),
        ("CUDAExecutionProvider", set(), 8),
        ("TensorrtExecutionProvider", set(), 8),
    ],
)
def test_items_merge_into_batches_only_where_batching_pays(
    provider: str | None, explicit: set[str], expected: int
) -> None:
    assert default_merge_limit(provider, 8, explicit) == expected


def test_camera_models_are_detectors_and_anomaly_models_by_name() -> None:
    config = GatewayConfig.model_validate(
        {
            "cameras": [
                {"id": "a", "url": "a.mp4", "model": "person:2", "anomaly": {"model": "scene-anomaly-a"}},
                {"id": "b", "url": "b.mp4", "model": "person"},
                {"id": "c", "url": "c.mp4"},
            ]
        }
    )
    assert camera_models(config) == {"person", "scene-anomaly-a"}
