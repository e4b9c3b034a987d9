"""``build-engine`` on a GPU, then the gateway picking the cached engine up (needs a GPU)."""

from __future__ import annotations

import argparse
import shutil
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import yaml
from prometheus_client import CollectorRegistry

from gateway.commands import build_engine as command
from gateway.config import GatewayConfig, ProviderName
from gateway.domain import ModelState
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.service import InferenceService
from tests.gpu.conftest import MODELS, shipped

pytestmark = pytest.mark.gpu


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of the shipped yolov8n-bench model (its engine builds fastest at batch 2)."""
    root = tmp_path / "models"
    shutil.copytree(
        MODELS / "yolov8n-bench", root / "yolov8n-bench", ignore=shutil.ignore_patterns(".build.json")
    )
    document = yaml.safe_load((root / "yolov8n-bench" / "model.yaml").read_text())
    document["max_batch_size"] = 2
    (root / "yolov8n-bench" / "model.yaml").write_text(yaml.safe_dump(document))
    return root


def build(config_file: Path, *arguments: str) -> int:
    parser = argparse.ArgumentParser(prog="edge-gateway")
    command.register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["build-engine", "--config", str(config_file), *arguments])
    code: int = parsed.handler(parsed)
    return code


def test_build_engine_then_serve_on_native_tensorrt(
    tmp_path: Path, repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {
        "state_dir": str(tmp_path / "state"),
        "models": {"repository": str(repository), "warmup_batches": 1, "preload": "all"},
        "inference": {"providers": ["tensorrt", "cpu"], "workers": 1},
    }
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(settings))
    # Given an fp16 engine built by the command (and found, not rebuilt, the second time)
    assert build(config_file, "--model", "yolov8n-bench", "--fp16") == 0
    assert "engine cached at" in capsys.readouterr().out
    assert build(config_file, "--model", "yolov8n-bench:1", "--fp16") == 0
    assert "already cached" in capsys.readouterr().out
    # When the gateway starts with tensorrt first
    registry = CollectorRegistry()
    service = InferenceService.from_config(
        GatewayConfig.model_validate(settings), registry, threading.Event()
    )
    service.start()
    try:
        # Then the model runs on the native engine, says so, and answers like the ONNX file
        status = service.status("yolov8n-bench", None)
        assert status.state is ModelState.READY
        assert status.provider == "TensorRT"
        labels = {"model": "yolov8n-bench", "version": "1", "provider": "TensorRT"}
        assert registry.get_sample_value("edge_gateway_model_provider_info", labels) == 1.0
        images = np.random.default_rng(3).random((2, 3, 640, 640), dtype=np.float32)
        result = service.infer("yolov8n-bench", None, {"images": images}, None).result(timeout=60)
        onnx_path, _ = shipped("yolov8n-bench")
        reference = OnnxEngine(onnx_path, EngineOptions(providers=("cpu",)))
        expected = np.asarray(reference.run({"images": images})["output0"], np.float64)
        reference.close()
        got = np.asarray(result.outputs["output0"], np.float64)
        assert np.max(np.abs(got - expected)) <= 0.05 * float(np.max(np.abs(expected)))
    finally:
        service.stop()


@pytest.mark.parametrize("provider", ["CUDAExecutionProvider", "TensorrtExecutionProvider"])
def test_onnxruntime_gpu_providers_when_installed(provider: str, tmp_path: Path) -> None:
    if provider not in ort.get_available_providers():
        pytest.skip(f"this onnxruntime build has no {provider} (install the gpu extra: onnxruntime-gpu)")
    onnx_path, _ = shipped("yolov8n-bench")
    name: ProviderName = "tensorrt" if provider.startswith("Tensorrt") else "cuda"
    options = EngineOptions(providers=(name,), tensorrt_cache_dir=tmp_path / "trt-cache")
    engine = OnnxEngine(onnx_path, options)
    try:
        assert engine.provider == provider
        images = np.zeros((1, 3, 640, 640), np.float32)
        assert engine.run({"images": images})["output0"].shape == (1, 84, 8400)
    finally:
        engine.close()
    if name == "tensorrt":
        assert any((tmp_path / "trt-cache").rglob("*.engine")), "the TensorRT EP should cache its engine"
