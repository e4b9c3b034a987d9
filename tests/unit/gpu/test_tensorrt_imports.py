"""What the native engine does on a box without TensorRT or the CUDA bindings: one-line load errors
that say how to install them, never an ImportError traceback."""

from __future__ import annotations

import enum
import sys
import types
from pathlib import Path

import pytest

from gateway.errors import InferenceError, ModelLoadError
from gateway.inference.engines.cuda_runtime import CUDA_HINT, check_cuda, import_cuda_runtime
from gateway.inference.engines.selection import LogProgress
from gateway.inference.engines.tensorrt import (
    INSTALL_HINT,
    TensorrtEngine,
    import_tensorrt,
    tensorrt_available,
)
from gateway.inference.engines.tensorrt_build import BuildRequest, build_engine
from tests.unit.gpu.conftest import profile

# Shaped like cuda-python's cudaError_t (whose member names are CUDA's own camelCase).
CudaError = enum.IntEnum("CudaError", {"cudaSuccess": 0, "cudaErrorNoDevice": 100})
SUCCESS, NO_DEVICE = CudaError["cudaSuccess"], CudaError["cudaErrorNoDevice"]


def test_missing_tensorrt_is_a_load_error_with_the_install_hint(without_tensorrt: None) -> None:
    with pytest.raises(ModelLoadError) as raised:
        import_tensorrt()
    message = str(raised.value)
    assert message == INSTALL_HINT
    assert "\n" not in message
    assert "python3-libnvinfer" in message
    assert "pypi.nvidia.com" in message
    assert tensorrt_available() is False


def test_missing_cuda_bindings_is_a_load_error_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ModelLoadError, match="cuda-python") as raised:
        import_cuda_runtime()
    assert str(raised.value) == CUDA_HINT


def test_loading_or_building_without_tensorrt_fails_the_same_way(
    tmp_path: Path, without_tensorrt: None
) -> None:
    with pytest.raises(ModelLoadError, match="python3-libnvinfer"):
        TensorrtEngine(tmp_path / "model.engine")
    with pytest.raises(ModelLoadError, match="python3-libnvinfer"):
        build_engine(BuildRequest(tmp_path / "model.onnx", "fp32", profile()), LogProgress())


def test_check_cuda_unpacks_values_and_raises_on_errors() -> None:
    assert check_cuda((SUCCESS, 7), "cudaGetDevice") == 7
    assert check_cuda((SUCCESS,), "cudaFree") is None
    assert check_cuda((SUCCESS, 1, 2), "pair") == (1, 2)
    with pytest.raises(InferenceError, match=r"cudaMalloc failed: CUDA error 100 \(cudaErrorNoDevice\)"):
        check_cuda((NO_DEVICE, None), "cudaMalloc")


def test_a_module_named_tensorrt_that_is_not_tensorrt_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given PyPI's stub package, or a script called tensorrt.py shadowing the real bindings
    impostor = types.ModuleType("tensorrt")
    impostor.__file__ = "/somewhere/bench/tensorrt.py"
    monkeypatch.setitem(sys.modules, "tensorrt", impostor)
    with pytest.raises(ModelLoadError, match=r"/somewhere/bench/tensorrt\.py is not TensorRT; .*libnvinfer"):
        import_tensorrt()
