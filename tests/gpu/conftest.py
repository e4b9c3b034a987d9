"""GPU tests: real TensorRT engines built from the shipped models, compared with ONNX Runtime on CPU.

Run with ``make test-gpu`` on a box with an NVIDIA GPU, TensorRT 10 and cuda-python; every test
here carries ``@pytest.mark.gpu`` and CI (``-m "not gpu"``) never collects them. On a box without
TensorRT they fail with the install hint rather than skip: ``make test-gpu`` there is a mistake.
``test_cuda_runtime.py`` and ``test_calibration_feed.py`` need cuda-python and a GPU but no TensorRT.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from gateway.domain import Image
from gateway.errors import ModelLoadError
from gateway.inference.engine_cache import Device, Precision, profile_for
from gateway.inference.engines.cuda_runtime import gpu_identity, import_cuda_runtime
from gateway.inference.engines.selection import LogProgress, current_device
from gateway.inference.engines.tensorrt_build import BuildRequest, build_engine
from gateway.inference.model_config import ModelConfig, load_model_config

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
SHIPPED = ("face-detector", "yolov8n-bench")
DEMO_CLIP = ROOT / "build" / "demo" / "clip.mp4"

PlanFactory = Callable[[str, Precision], Path]


@pytest.fixture(scope="session")
def cudart() -> ModuleType:
    """cuda-python's runtime on a GPU (the tests that need no TensorRT)."""
    try:
        runtime = import_cuda_runtime()
        gpu_identity(runtime)
    except ModelLoadError as exc:
        pytest.fail(f"these gpu tests need cuda-python and a GPU: {exc}")
    return runtime


@pytest.fixture(scope="session")
def gpu() -> Device:
    try:
        return current_device()
    except ModelLoadError as exc:
        pytest.fail(f"the gpu tests need TensorRT and a GPU: {exc}")


def shipped(name: str) -> tuple[Path, ModelConfig]:
    onnx_path = MODELS / name / "1" / "model.onnx"
    if not onnx_path.is_file():
        pytest.fail(f"{onnx_path} is missing: run make setup (build/build_models.py) first")
    return onnx_path, load_model_config(MODELS / name / "model.yaml")


@pytest.fixture(scope="session")
def plans(gpu: Device, tmp_path_factory: pytest.TempPathFactory) -> PlanFactory:
    """Build (once per session) an engine of a shipped model; fp32 without TF32, for parity."""
    built: dict[tuple[str, Precision], Path] = {}
    directory = tmp_path_factory.mktemp("plans")

    def plan(name: str, precision: Precision) -> Path:
        if (name, precision) not in built:
            onnx_path, config = shipped(name)
            request = BuildRequest(
                onnx_path, precision, profile_for(config, config.max_batch_size), tf32=precision != "fp32"
            )
            path = directory / f"{name}-{precision}.engine"
            path.write_bytes(build_engine(request, LogProgress()))
            built[(name, precision)] = path
        return built[(name, precision)]

    return plan


@pytest.fixture(scope="session")
def face_frames() -> list[Image]:
    """Demo clip frames in its face interval (10-15 s, see build/demo/clip.truth.json)."""
    if not DEMO_CLIP.is_file():
        pytest.fail(f"{DEMO_CLIP} is missing: run make setup first")
    capture = cv2.VideoCapture(str(DEMO_CLIP))
    frames: list[Image] = []
    for seconds in (10.5, 11.5, 12.5, 13.5, 14.5):
        capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000)
        ok, frame = capture.read()
        if ok:
            frames.append(np.asarray(frame, np.uint8))
    capture.release()
    assert len(frames) == 5
    return frames
