"""The ONNX Runtime engine on real model files: provider choice, specs, error mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from gateway.domain import TensorSpec, TensorType
from gateway.errors import InvalidInputError, ModelLoadError
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine, preferred_provider
from tests.support.onnx_models import write_affine_model, write_broken_model

ALL = EngineOptions(providers=("tensorrt", "cuda", "cpu"))


def test_first_available_configured_provider_wins(models_root: Path) -> None:
    engine = OnnxEngine(write_affine_model(models_root), ALL)
    offered = ort.get_available_providers()
    expected = next(
        name
        for name in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
        if name in offered
    )
    assert engine.provider == expected == preferred_provider(ALL)
    engine.close()


def test_specs_come_from_the_model_file(models_root: Path) -> None:
    engine = OnnxEngine(write_affine_model(models_root, dims=(2, 3), datatype="FP16"), EngineOptions())
    assert engine.inputs == (TensorSpec("INPUT0", TensorType.FP16, (-1, 2, 3)),)
    assert engine.outputs == (TensorSpec("OUTPUT0", TensorType.FP16, (-1, 2, 3)),)
    result = engine.run({"INPUT0": np.ones((2, 2, 3), np.float16)})
    assert result["OUTPUT0"].dtype == np.float16
    assert result["OUTPUT0"].tolist() == [[[3.0] * 3] * 2] * 2


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="needs a CPU-only build")
def test_no_available_provider_is_a_load_error_naming_what_exists(models_root: Path) -> None:
    with pytest.raises(ModelLoadError, match="none of the configured providers \\['cuda'\\] is available"):
        OnnxEngine(write_affine_model(models_root), EngineOptions(providers=("cuda",)))


def test_a_garbage_file_is_a_load_error(models_root: Path) -> None:
    with pytest.raises(ModelLoadError, match="Protobuf parsing failed"):
        OnnxEngine(write_broken_model(models_root), EngineOptions())


def test_a_missing_file_is_a_load_error(models_root: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.onnx"):
        OnnxEngine(models_root / "nothing" / "1" / "model.onnx", EngineOptions())


def test_wrong_input_is_an_invalid_input_error(models_root: Path) -> None:
    engine = OnnxEngine(write_affine_model(models_root), EngineOptions())
    with pytest.raises(InvalidInputError):
        engine.run({"INPUT0": np.ones((1, 4), np.float64)})
    with pytest.raises(InvalidInputError):
        engine.run({"INPUT0": np.ones((1, 5), np.float32)})
