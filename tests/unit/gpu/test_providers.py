"""ONNX Runtime provider options, and the provider actually used as the service reports it: status
(what /v2/models/{name} shows) and the edge_gateway_model_provider_info metric."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import onnxruntime as ort
import pytest
from prometheus_client import CollectorRegistry

from gateway.config import GatewayConfig
from gateway.domain import ModelState, ModelVersionStatus
from gateway.inference.defaults import engine_options
from gateway.inference.engine_cache import model_digest
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import session_providers, tensorrt_ep_cache_dir
from gateway.inference.gpu_presence import gpu_present
from gateway.inference.provider_metrics import ProviderCollector
from gateway.inference.service import InferenceService
from tests.support.onnx_models import write_affine_model


def test_tensorrt_ep_gets_fp16_and_versioned_caches_under_state_dir(tmp_path: Path) -> None:
    options = EngineOptions(providers=("tensorrt", "cuda", "cpu"), tensorrt_cache_dir=tmp_path / "trt-cache")
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    model_file = write_affine_model(tmp_path / "models")
    configured = session_providers(wanted, options, model_file)
    cache = tmp_path / "trt-cache" / f"onnxruntime-{ort.__version__}"
    engines = cache / model_digest(model_file)[:32]
    assert configured == [
        (
            "TensorrtExecutionProvider",
            {
                "trt_fp16_enable": True,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(engines),
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(cache),
            },
        ),
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert engines.is_dir()
    assert tensorrt_ep_cache_dir(tmp_path) == tmp_path / f"onnxruntime-{ort.__version__}"


def test_tensorrt_ep_engines_of_replaced_weights_go_elsewhere(tmp_path: Path) -> None:
    # The EP names its engines by the graph's names only: replaced weights must change the directory
    options = EngineOptions(providers=("tensorrt",), tensorrt_cache_dir=tmp_path / "trt-cache")
    model_file = write_affine_model(tmp_path / "models", offset=1.0)
    before = session_providers(["TensorrtExecutionProvider"], options, model_file)
    write_affine_model(tmp_path / "models", offset=2.0)
    after = session_providers(["TensorrtExecutionProvider"], options, model_file)
    assert before[0][1]["trt_engine_cache_path"] != after[0][1]["trt_engine_cache_path"]
    assert before[0][1]["trt_timing_cache_path"] == after[0][1]["trt_timing_cache_path"]


def test_fp16_off_reaches_the_tensorrt_ep(tmp_path: Path) -> None:
    configured = session_providers(
        ["TensorrtExecutionProvider"], EngineOptions(tensorrt_fp16=False), tmp_path / "model.onnx"
    )
    assert configured == [("TensorrtExecutionProvider", {"trt_fp16_enable": False})]


def test_engine_options_put_both_caches_in_state_dir(tmp_path: Path) -> None:
    config = GatewayConfig.model_validate(
        {"state_dir": tmp_path, "inference": {"tensorrt_fp16": False, "tensorrt_int8": True}}
    )
    options = engine_options(config)
    assert options.engine_cache_dir == tmp_path / "engines"
    assert options.tensorrt_cache_dir == tmp_path / "trt-cache"
    assert (options.tensorrt_fp16, options.tensorrt_int8) == (False, True)
    assert options.providers == ("tensorrt", "cuda", "cpu")


def test_collector_reports_only_versions_with_a_provider() -> None:
    ready = ModelVersionStatus("a", 2, ModelState.READY, None, "onnxruntime_onnx", "TensorRT", (), (), 8)
    failed = ModelVersionStatus("b", 1, ModelState.FAILED, "broken", "onnxruntime_onnx", None, (), (), 8)
    registry = CollectorRegistry()
    registry.register(ProviderCollector(lambda: [ready, failed]))
    labels = {"model": "a", "version": "2", "provider": "TensorRT"}
    assert registry.get_sample_value("edge_gateway_model_provider_info", labels) == 1.0
    assert registry.get_sample_value("edge_gateway_model_provider_info", {**labels, "model": "b"}) is None


def test_service_with_tensorrt_first_but_absent_falls_back_and_reports_the_provider_used(
    tmp_path: Path, without_tensorrt: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the default provider order and a box without TensorRT or a GPU build of onnxruntime
    models = tmp_path / "models"
    write_affine_model(models, "detector")
    config = GatewayConfig.model_validate(
        {
            "state_dir": tmp_path / "state",
            "models": {"repository": models, "warmup_batches": 1, "preload": "all"},
            "inference": {"providers": ["tensorrt", "cpu"], "workers": 1},
        }
    )
    registry = CollectorRegistry()
    service = InferenceService.from_config(config, registry, threading.Event())
    # When the service starts
    with caplog.at_level(logging.INFO):
        service.start()
    try:
        # Then the model runs on the CPU, says so in its status and metrics, and the log says how
        # to install TensorRT once, without a traceback
        status = service.status("detector", None)
        assert status.state is ModelState.READY
        assert status.provider == "CPUExecutionProvider"
        labels = {"model": "detector", "version": "1", "provider": "CPUExecutionProvider"}
        assert registry.get_sample_value("edge_gateway_model_provider_info", labels) == 1.0
        hints = [record for record in caplog.records if "python3-libnvinfer" in record.getMessage()]
        assert len(hints) == 1
        assert hints[0].exc_info is None
        assert hints[0].levelno == (logging.WARNING if gpu_present() else logging.INFO)
    finally:
        service.stop()
