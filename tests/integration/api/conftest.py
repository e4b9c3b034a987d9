"""The real server: InferenceService on real ONNX models in a tmp repository, served on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, GatewayConfig, HttpConfig
from gateway.inference.service import InferenceService
from tests.integration.api.running_gateway import RunningGateway, running_gateway
from tests.support.onnx_models import (
    IR_VERSION,
    OPSET,
    affine_model_document,
    write_affine_model,
    write_broken_model,
    write_model_file,
    write_model_yaml,
)
from tests.unit.api.harness import ServedApi

SLOW_WIDTH = 256
SLOW_LAYERS = 24


def slow_model_bytes(width: int = SLOW_WIDTH, layers: int = SLOW_LAYERS) -> bytes:
    """``y = tanh(x W)`` repeated ``layers`` times: a real model slow enough (about a millisecond a
    row on one core) that a few dozen concurrent clients overload one worker."""
    rng = np.random.default_rng(3)
    nodes = []
    initializers = []
    current = "INPUT0"
    for layer in range(layers):
        weight = f"w{layer}"
        initializers.append(
            onnx.numpy_helper.from_array(
                (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32), weight
            )
        )
        product, output = f"m{layer}", ("OUTPUT0" if layer == layers - 1 else f"t{layer}")
        nodes += [
            helper.make_node("MatMul", [current, weight], [product]),
            helper.make_node("Tanh", [product], [output]),
        ]
        current = output
    shape: list[int | str] = ["batch", width]
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, shape)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    data: bytes = model.SerializeToString()
    return data


@dataclass(frozen=True, slots=True)
class Gateway:
    api: ServedApi
    service: InferenceService
    repository: Path
    registry: CollectorRegistry

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.api.port}"


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def model_repository(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_affine_model(root, "affine", 1, scale=2.0, offset=1.0)
    write_affine_model(root, "affine", 2, scale=3.0, offset=0.5, write_yaml=False)
    write_broken_model(root, "broken")
    write_model_yaml(root, "slow", affine_model_document(dims=(SLOW_WIDTH,), max_batch_size=4))
    write_model_file(root, "slow", 1, slow_model_bytes())
    write_constant_detector(root)
    return root


@pytest.fixture
def make_gateway(model_repository: Path, tmp_path: Path) -> Iterator[GatewayFactory]:
    started: list[tuple[ServedApi, InferenceService]] = []

    def factory(
        *,
        inference: dict[str, Any] | None = None,
        admission: AdmissionConfig | None = None,
        tokens: frozenset[str] = frozenset(),
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> Gateway:
        config = GatewayConfig.model_validate(
            {
                "device_id": "test",
                "state_dir": tmp_path / "state",
                "models": {
                    "repository": model_repository,
                    "warmup_batches": 1,
                    "poll_interval_s": 60,
                    "preload": "all",
                },
                "inference": {
                    "workers": 2,
                    "providers": ["cpu"],
                    "max_queue_delay_ms": 1,
                    **(inference or {}),
                },
            }
        )
        registry = CollectorRegistry()
        service = InferenceService.from_config(config, registry)
        service.start()
        try:
            app = create_app(
                http=HttpConfig(port=0),
                admission=admission or AdmissionConfig(rate_per_s=100_000, burst=100_000),
                inference=service,
                cameras=None,
                events=None,
                registry=registry,
                tokens=tokens,
            )
            api = ServedApi(app, loop_factory)
        except BaseException:
            service.stop()
            raise
        started.append((api, service))
        return Gateway(api, service, model_repository, registry)

    yield factory
    for api, service in started:
        api.close()
        service.stop()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningGateway]:
    """A real ``Gateway`` on the demo clip, wired to its config file as ``serve`` wires it."""
    with running_gateway(tmp_path) as started:
        yield started


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway()


DETECTOR_SIZE = 32
DETECTOR_BOX = (16.0, 16.0, 8.0, 8.0)
"""Centre x, centre y, width, height in the model's input pixels: the one box it always finds."""


def constant_detector_bytes(scores: tuple[float, float] = (0.9, 0.1)) -> bytes:
    """A YOLOv8-shaped detector ([N, 4 + 2 classes, 1 anchor]) that finds the same box in every
    image: its output is the input's mean times zero plus a constant, so the graph really reads
    the image (and its batch size) while the expected detection is known exactly."""
    constant = np.array([*DETECTOR_BOX, *scores], dtype=np.float32).reshape(1, 6, 1)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
            helper.make_node("Flatten", ["mean"], ["flat"], axis=1),
            helper.make_node("Unsqueeze", ["flat", "axis2"], ["column"]),
            helper.make_node("Mul", ["column", "zero"], ["zeros"]),
            helper.make_node("Add", ["zeros", "constant"], ["output0"]),
        ],
        "constant_detector",
        [
            helper.make_tensor_value_info(
                "images", TensorProto.FLOAT, ["batch", 3, DETECTOR_SIZE, DETECTOR_SIZE]
            )
        ],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 6, 1])],
        [
            onnx.numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            onnx.numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
            onnx.numpy_helper.from_array(constant, "constant"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def write_constant_detector(root: Path, name: str = "detector") -> None:
    write_model_yaml(
        root,
        name,
        {
            "platform": "onnxruntime_onnx",
            "max_batch_size": 4,
            "inputs": [{"name": "images", "datatype": "FP32", "dims": [3, DETECTOR_SIZE, DETECTOR_SIZE]}],
            "outputs": [{"name": "output0", "datatype": "FP32", "dims": [6, 1]}],
            "preprocess": {"width": DETECTOR_SIZE, "height": DETECTOR_SIZE, "layout": "NCHW", "color": "RGB"},
            "postprocess": {"kind": "yolov8", "labels": ["cat", "dog"], "score_threshold": 0.25},
        },
    )
    write_model_file(root, name, 1, constant_detector_bytes())
