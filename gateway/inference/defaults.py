"""What the inference service runs with when the config leaves it open: workers, the batcher's delay
and merge limit per execution provider, which models load at start, and how sessions are created."""

from __future__ import annotations

import os
from collections.abc import Set as AbstractSet

from gateway.config import GatewayConfig
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import PROVIDERS

__all__ = [
    "camera_models",
    "default_merge_limit",
    "default_queue_delay_ms",
    "default_workers",
    "engine_options",
]


def default_workers(provider: str | None) -> int:
    """One worker per usable CPU core on CPU (each with a single-threaded session); one on a GPU,
    where a single session fed with batches is what raises throughput."""
    if provider is not None and provider != PROVIDERS["cpu"]:
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def default_queue_delay_ms(
    provider: str | None, configured: float, explicitly_set: AbstractSet[str]
) -> float:
    """``max_queue_delay_ms`` as configured when it is set; otherwise the config default on GPU
    providers and 0 on CPU, where a bigger batch buys no throughput and the wait would be pure
    latency (batches still form there whenever every worker is busy)."""
    if "max_queue_delay_ms" in explicitly_set or (provider is not None and provider != PROVIDERS["cpu"]):
        return configured
    return 0.0


def default_merge_limit(provider: str | None, configured: int, explicitly_set: AbstractSet[str]) -> int:
    """How many rows the batcher merges into one batch: ``max_batch_size`` when it is set or on GPU
    providers; 1 on CPU by default. On CPU one single-threaded session per worker is the throughput
    ceiling whatever the batch, and a merged batch makes every item in it wait for the whole batch
    (a worker that takes eight 32 ms items answers the first after 256 ms while the other worker may
    sit idle). A request with several rows still runs as one batch, up to ``max_batch_size``."""
    if "max_batch_size" in explicitly_set or (provider is not None and provider != PROVIDERS["cpu"]):
        return configured
    return 1


def camera_models(config: GatewayConfig) -> frozenset[str]:
    """Names of the models the cameras use: detectors and scene-anomaly models."""
    references = [camera.model for camera in config.cameras] + [
        camera.anomaly.model for camera in config.cameras if camera.anomaly is not None
    ]
    return frozenset(reference.name for reference in references if reference is not None)


def engine_options(config: GatewayConfig) -> EngineOptions:
    """How sessions and engines are created, from ``inference`` config; caches live in state_dir."""
    settings = config.inference
    return EngineOptions(
        providers=settings.providers,
        intra_op_threads=settings.intra_op_threads,
        worker_nice=settings.worker_nice,
        tensorrt_fp16=settings.tensorrt_fp16,
        tensorrt_int8=settings.tensorrt_int8,
        tensorrt_cache_dir=config.state_dir / "trt-cache",
        engine_cache_dir=config.state_dir / "engines",
    )
