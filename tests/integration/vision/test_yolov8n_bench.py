"""yolov8n-bench: the generated YOLOv8n stand-in runs in ONNX Runtime like a real YOLOv8n export."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from gateway.inference.postprocess import decode
from gateway.inference.preprocess import prepare
from tests.integration.vision.conftest import ShippedModel

YOLOV8N_PARAMETERS = 3_151_904
"""Ultralytics' YOLOv8n with 80 classes, BatchNorm folded into the convolutions."""


@pytest.mark.parametrize(("size", "batch"), [(320, 1), (320, 3), (640, 2)])
def test_dynamic_batch_and_size_give_84_by_anchors(
    yolov8n_bench: ShippedModel, size: int, batch: int
) -> None:
    images = np.random.default_rng(size).random((batch, 3, size, size), dtype=np.float32)
    output = yolov8n_bench.engine.run({"images": images})["output0"]
    anchors = sum((size // stride) ** 2 for stride in (8, 16, 32))
    assert output.shape == (batch, 84, anchors)
    assert np.isfinite(output).all()


def test_anchor_centres_and_strides_are_those_of_yolov8(yolov8n_bench: ShippedModel) -> None:
    # Box centres are anchor point + (far - near) / 2 cells; with any weights the centre of each
    # anchor's box stays within REG_MAX cells of its anchor point, level by level.
    output = yolov8n_bench.engine.run({"images": np.zeros((1, 3, 320, 320), dtype=np.float32)})["output0"][0]
    start = 0
    for stride in (8, 16, 32):
        cells = 320 // stride
        xs = (np.arange(cells * cells) % cells + 0.5) * stride
        level = output[0, start : start + cells * cells]
        assert np.all(np.abs(level - xs) <= 7.5 * stride)
        start += cells * cells
    assert np.all(output[2:4] >= 0)


def test_same_convolutions_as_a_real_yolov8n(yolov8n_bench: ShippedModel) -> None:
    model = onnx.load(str(yolov8n_bench.path))
    weights = {tensor.name: tensor for tensor in model.graph.initializer}
    convolution_inputs = {
        name for node in model.graph.node if node.op_type == "Conv" for name in node.input[1:]
    }
    parameters = sum(int(np.prod(weights[name].dims)) for name in convolution_inputs)
    assert parameters == YOLOV8N_PARAMETERS


def test_a_frame_through_the_model_yaml_path_detects_nothing(yolov8n_bench: ShippedModel) -> None:
    # Random weights with Ultralytics' class prior: every score stays far below the threshold.
    assert yolov8n_bench.config.preprocess is not None
    frame = np.random.default_rng(3).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    item, letterbox = prepare(frame, yolov8n_bench.config.preprocess)
    output = yolov8n_bench.engine.run({"images": item[np.newaxis]})["output0"]
    assert output.shape == (1, 84, 8400)
    assert float(output[0, 4:].max()) < 0.01
    assert decode({"output0": output[0]}, letterbox, yolov8n_bench.config.postprocess) == ((), None)


def test_warm_up_sized_inputs_run(yolov8n_bench: ShippedModel) -> None:
    # The repository warms dynamic dimensions up at small sizes; odd sizes must not break the graph.
    for height, width in ((1, 1), (100, 77)):
        output = yolov8n_bench.engine.run({"images": np.zeros((1, 3, height, width), dtype=np.float32)})
        assert output["output0"].shape[:2] == (1, 84)
