"""The shipped models load, pass the signature check and warm up in the real model repository."""

from __future__ import annotations

from pathlib import Path

from gateway.domain import ModelState
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.repository import ModelRepository

SHIPPED = ("face-detector", "yolov8n-bench")


def test_shipped_models_become_ready(built: Path, tmp_path: Path) -> None:
    # Given a repository holding just the shipped models (others may add theirs to models/)
    for name in SHIPPED:
        (tmp_path / name).symlink_to(built / "models" / name, target_is_directory=True)
    repository = ModelRepository(tmp_path, OnnxEngine, EngineOptions(providers=("cpu",)), warmup_batches=2)
    try:
        repository.scan()
        repository.load_all()
        statuses = {status.name: status for status in repository.statuses()}
    finally:
        repository.close()
    assert sorted(statuses) == sorted(SHIPPED)
    for status in statuses.values():
        assert (status.version, status.state, status.reason) == (1, ModelState.READY, None)
        assert status.provider == "CPUExecutionProvider"
        assert status.max_batch_size == 8
    assert statuses["yolov8n-bench"].inputs[0].shape == (-1, 3, -1, -1)
    assert statuses["face-detector"].outputs[0].shape == (-1, 22, 2100)
