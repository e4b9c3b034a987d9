"""The shipped models and the demo clip, as ``build/build_models.py`` builds them at set-up.

The session fixture runs the builder first (quick when everything is already there: it only checks
hashes), so these tests exercise exactly the files the gateway serves.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.loaded import check_signature
from gateway.inference.model_config import ModelConfig, load_model_config

ROOT = Path(__file__).resolve().parents[3]
BUILDER = ROOT / "build" / "build_models.py"


@dataclass(frozen=True)
class ShippedModel:
    config: ModelConfig
    engine: OnnxEngine
    path: Path


@pytest.fixture(scope="session")
def built() -> Path:
    completed = subprocess.run(
        [sys.executable, str(BUILDER)], capture_output=True, text=True, check=False, timeout=170
    )
    assert completed.returncode == 0, completed.stderr
    return ROOT


def load_shipped(root: Path, name: str) -> ShippedModel:
    config = load_model_config(root / "models" / name / "model.yaml")
    path = root / "models" / name / "1" / "model.onnx"
    engine = OnnxEngine(path, EngineOptions(providers=("cpu",), intra_op_threads=1))
    check_signature(config, engine)
    return ShippedModel(config, engine, path)


@pytest.fixture(scope="session")
def face_detector(built: Path) -> Iterator[ShippedModel]:
    model = load_shipped(built, "face-detector")
    yield model
    model.engine.close()


@pytest.fixture(scope="session")
def yolov8n_bench(built: Path) -> Iterator[ShippedModel]:
    model = load_shipped(built, "yolov8n-bench")
    yield model
    model.engine.close()
