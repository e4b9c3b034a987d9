"""Pool defaults follow the execution provider."""

from __future__ import annotations

import os

import pytest

from gateway.inference.service import default_queue_delay_ms, default_workers


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
