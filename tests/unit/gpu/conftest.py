"""Fixtures for the GPU-path tests that run without a GPU: a real ONNX model repository, engine
cache keys, and a recording stand-in for the TensorRT side of engine selection (pure choice logic)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from gateway.domain import TensorSpec, TensorType
from gateway.errors import ModelLoadError
from gateway.inference.engine_cache import Device, ShapeRange
from gateway.inference.engines.base import Tensors
from gateway.inference.engines.tensorrt import INSTALL_HINT
from gateway.inference.engines.tensorrt_build import BuildProgress, BuildRequest

ORIN = Device("Orin", "8.7", "10.3.0")


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root


@pytest.fixture
def without_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import tensorrt`` fails, as on every box without it, even where it is installed."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


def profile(max_batch: int = 8, dims: tuple[int, ...] = (4,), name: str = "INPUT0") -> tuple[ShapeRange, ...]:
    return (ShapeRange(name, (1, *dims), (max_batch, *dims), (max_batch, *dims)),)


class FakeNativeEngine:
    """Stands in for a deserialized TensorRT engine: records the plan it was loaded from."""

    def __init__(self, plan: Path) -> None:
        self.plan = plan
        self.closed = False

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("INPUT0", TensorType.FP32, (-1, 4)),)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("OUTPUT0", TensorType.FP32, (-1, 4)),)

    @property
    def provider(self) -> str:
        return "TensorRT"

    @property
    def thread_safe(self) -> bool:
        return False

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        return {"OUTPUT0": np.asarray(feeds["INPUT0"]) * 2 + 1}

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTensorrt:
    """The TensorRT side of engine selection, recording what it was asked to do."""

    device_value: Device | None = ORIN
    loaded: list[Path] = field(default_factory=list)
    built: list[BuildRequest] = field(default_factory=list)

    def device(self) -> Device:
        if self.device_value is None:
            raise ModelLoadError(INSTALL_HINT)
        return self.device_value

    def load(self, plan: Path) -> FakeNativeEngine:
        self.loaded.append(plan)
        return FakeNativeEngine(plan)

    def build(self, request: BuildRequest, progress: BuildProgress) -> bytes:
        self.built.append(request)
        progress.phase_start("Building engine", None, 1)
        progress.phase_finish("Building engine")
        return b"plan for " + request.precision.encode()


@pytest.fixture
def fake_tensorrt() -> FakeTensorrt:
    return FakeTensorrt()
