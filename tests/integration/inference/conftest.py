from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import GatewayConfig
from gateway.inference.batcher import Batcher
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.metrics import InferenceMetrics
from gateway.inference.pool import WorkerPool
from gateway.inference.repository import ModelRepository
from gateway.inference.service import InferenceService

ServiceFactory = Callable[..., InferenceService]


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_service(tmp_path: Path, models_root: Path, registry: CollectorRegistry) -> Iterator[ServiceFactory]:
    """Start an InferenceService on ``models_root`` with ``inference`` overrides; stopped at teardown."""
    started: list[InferenceService] = []

    def make(
        poll_interval_s: float = 60.0, warmup_batches: int = 1, preload: str = "all", **inference: Any
    ) -> InferenceService:
        config = GatewayConfig.model_validate(
            {
                "device_id": "test",
                "state_dir": tmp_path / "state",
                "models": {
                    "repository": models_root,
                    "poll_interval_s": poll_interval_s,
                    "warmup_batches": warmup_batches,
                    "preload": preload,
                },
                "inference": {"providers": ["cpu"], **inference},
            }
        )
        service = InferenceService.from_config(config, registry)
        service.start()
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop()


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftover = [thread.name for thread in threading.enumerate() if thread not in before and thread.is_alive()]
    assert leftover == [], f"threads left running: {leftover}"


@pytest.fixture
def queued_service(models_root: Path) -> Iterator[tuple[InferenceService, Batcher, WorkerPool]]:
    """A service whose worker is not started: items wait in the queue until the test runs them."""
    metrics = InferenceMetrics(CollectorRegistry())
    repository = ModelRepository(models_root, OnnxEngine, EngineOptions(providers=("cpu",)), warmup_batches=1)
    batcher = Batcher(16, 0.0, metrics)
    stop = threading.Event()
    pool = WorkerPool(batcher, repository, 1, metrics, stop)
    service = InferenceService(
        repository, batcher, pool, metrics, max_batch_size=8, poll_interval_s=60.0, stop=stop
    )
    repository.scan()
    repository.load_all()
    yield service, batcher, pool
    service.stop()


def run_queued(batcher: Batcher, pool: WorkerPool) -> None:
    batch = batcher.next_batch(1.0)
    assert batch is not None
    pool.run_batch(batch, 0)
