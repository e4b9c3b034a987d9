"""A model file is input: real ONNX models (built with onnx.helper) whose outputs are shape-valid but
odd (NaN, infinities, huge numbers, scores above 1) go through the real repository, ONNX Runtime
and postprocess. What comes out is what an alert can carry (finite boxes in 0..1, scores in 0..1),
one odd anchor does not hide the good ones, and each problem is logged once per model version and
counted in a metric instead of being logged on every frame."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper
from prometheus_client import CollectorRegistry

from gateway.domain import DetectOutput
from gateway.errors import InferenceError
from tests.integration.inference.conftest import ServiceFactory
from tests.support.onnx_models import IR_VERSION, OPSET, write_model_file, write_model_yaml

SIZE = 32
LABELS = ["person", "car"]
NAN, INF = float("nan"), float("inf")
FRAME = np.full((SIZE, SIZE, 3), 100, np.uint8)  # the model input shows the frame 1:1
POSTPROCESS_LOGGER = "gateway.inference.postprocess"
GOOD = (16.0, 16.0, 8.0, 8.0, 0.8, 0.1)
"""A sane anchor: a person at the centre, 8 pixels wide."""


def model_bytes(
    name: str,
    nodes: list[onnx.NodeProto],
    output: onnx.ValueInfoProto,
    initializer: list[onnx.TensorProto],
) -> bytes:
    """A checked ONNX model file: input ``images`` FP32 [batch, 3, SIZE, SIZE], the graph ``nodes``
    over it and ``initializer``, and the one ``output``."""
    graph = helper.make_graph(
        nodes=nodes,
        name=name,
        inputs=[helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        outputs=[output],
        initializer=initializer,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def constant_output_bytes(value: npt.NDArray[Any], element: int = TensorProto.FLOAT) -> bytes:
    """``images`` FP32 [batch, 3, SIZE, SIZE] -> ``output0`` [batch, *value.shape] equal to ``value``
    for every item (``mean(images) * 0 + value``), in the ONNX element type ``element``."""
    numpy_type = helper.tensor_dtype_to_np_dtype(element)
    with np.errstate(over="ignore"):  # a value beyond float16 is meant to become inf
        constant = value.astype(numpy_type)[np.newaxis]
    return model_bytes(
        "constant_output",
        [
            helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
            helper.make_node("Reshape", ["mean", "item_shape"], ["per_item"]),
            helper.make_node("Cast", ["per_item"], ["cast"], to=element),
            helper.make_node("Mul", ["cast", "zero"], ["zeros"]),
            helper.make_node("Add", ["zeros", "value"], ["output0"]),
        ],
        helper.make_tensor_value_info("output0", element, ["batch", *value.shape]),
        [
            onnx.numpy_helper.from_array(np.array([-1] + [1] * value.ndim, dtype=np.int64), "item_shape"),
            onnx.numpy_helper.from_array(np.zeros((), numpy_type), "zero"),
            onnx.numpy_helper.from_array(constant, "value"),
        ],
    )


def write_constant_model(
    root: Path,
    name: str,
    value: npt.NDArray[Any],
    postprocess: dict[str, Any],
    *,
    datatype: str = "FP32",
    element: int = TensorProto.FLOAT,
) -> None:
    write_model_yaml(
        root,
        name,
        {
            "max_batch_size": 2,
            "inputs": [{"name": "images", "datatype": "FP32", "dims": [3, SIZE, SIZE]}],
            "outputs": [{"name": "output0", "datatype": datatype, "dims": list(value.shape)}],
            "preprocess": {"width": SIZE, "height": SIZE, "layout": "NCHW", "color": "RGB"},
            "postprocess": postprocess,
        },
    )
    write_model_file(root, name, 1, constant_output_bytes(value, element))


def yolov8(*anchors: tuple[float, ...]) -> npt.NDArray[np.float64]:
    """``[4 + 2 classes, anchors]`` from (cx, cy, w, h, person, car) rows."""
    rows = np.array(anchors, dtype=np.float64)
    return np.ascontiguousarray(rows.T)


def detect(service: Any, name: str) -> DetectOutput:
    output: DetectOutput = service.detect(name, None, FRAME, None).result(timeout=10)
    return output


def assert_alertable(output: DetectOutput) -> None:
    for detection in output.detections:
        assert math.isfinite(detection.score), detection
        assert 0.0 <= detection.score <= 1.0, detection
        assert detection.box is not None
        assert all(math.isfinite(value) and 0.0 <= value <= 1.0 for value in detection.box), detection


def odd_count(registry: CollectorRegistry, name: str, problem: str) -> float:
    value = registry.get_sample_value(
        "edge_gateway_inference_odd_outputs_total", {"model": name, "version": "1", "problem": problem}
    )
    return value or 0.0


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(((NAN, 16, 8, 8, 0.9, 0.1), "non_finite_detection"), id="nan-box"),
        pytest.param(((INF, 16, 8, 8, 0.9, 0.1), "non_finite_detection"), id="inf-box"),
        pytest.param(((16, 16, -INF, 8, 0.9, 0.1), "non_finite_detection"), id="minus-inf-width"),
        pytest.param(((16, 16, 8, 8, INF, 0.1), "non_finite_detection"), id="inf-score"),
        pytest.param(((16, 16, 8, 8, NAN, 0.9), "non_finite_detection"), id="nan-score"),
        pytest.param(((3e38, 3e38, 3e38, 3e38, 0.1, 0.9), None), id="huge-box"),
    ],
)
def test_an_odd_anchor_is_dropped_and_the_good_one_still_detected(
    models_root: Path,
    make_service: ServiceFactory,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    case: tuple[tuple[float, ...], str | None],
) -> None:
    odd, problem = case
    # Given a detector whose every frame has one odd anchor next to a good one
    write_constant_model(models_root, "odd", yolov8(odd, GOOD), {"kind": "yolov8", "labels": LABELS})
    service = make_service()
    caplog.set_level(logging.WARNING, logger=POSTPROCESS_LOGGER)

    # When three frames are detected
    outputs = [detect(service, "odd") for _ in range(3)]

    # Then each gives the good person, and nothing that is not a number an alert can carry
    for output in outputs:
        assert_alertable(output)
        assert [(detection.label, round(detection.score, 3)) for detection in output.detections] == [
            ("person", 0.8)
        ]
        assert output.detections[0].box == pytest.approx((0.375, 0.375, 0.625, 0.625))
    # ... and the problem is logged once, naming the model, and counted on every frame
    warnings = [record.getMessage() for record in caplog.records if record.name == POSTPROCESS_LOGGER]
    if problem is None:
        assert warnings == []
    else:
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith("model odd:1: "), warnings
        assert odd_count(registry, "odd", problem) == 3


def test_scores_above_one_are_clipped_to_one(
    models_root: Path, make_service: ServiceFactory, registry: CollectorRegistry
) -> None:
    write_constant_model(
        models_root, "logits", yolov8((16, 16, 8, 8, 1e30, 0.1)), {"kind": "yolov8", "labels": LABELS}
    )
    service = make_service()

    output = detect(service, "logits")

    assert [(detection.label, detection.score) for detection in output.detections] == [("person", 1.0)]
    assert odd_count(registry, "logits", "score_above_one") == 1


def test_yolov5_objectness_that_is_not_finite_is_dropped(
    models_root: Path, make_service: ServiceFactory, registry: CollectorRegistry
) -> None:
    rows = np.array(
        [
            [16, 16, 8, 8, INF, 0.0, 0.9],  # inf x 0: NaN
            [16, 16, 8, 8, 0.9, INF, 0.1],
            [16, 16, 8, 8, 0.9, 0.9, 0.1],
        ]
    )
    write_constant_model(models_root, "v5", rows, {"kind": "yolov5", "labels": LABELS})
    service = make_service()

    output = detect(service, "v5")

    assert_alertable(output)
    assert [detection.label for detection in output.detections] == ["person"]
    assert odd_count(registry, "v5", "non_finite_detection") == 2


def test_a_float16_output_that_overflows_to_infinity_is_dropped(
    models_root: Path, make_service: ServiceFactory
) -> None:
    # 1e5 is beyond float16 (max 65504): the model file's constant is inf there
    value = yolov8((1e5, 16, 8, 8, 0.9, 0.1), GOOD)
    write_constant_model(
        models_root,
        "half",
        value,
        {"kind": "yolov8", "labels": LABELS},
        datatype="FP16",
        element=TensorProto.FLOAT16,
    )
    service = make_service()

    output = detect(service, "half")

    assert_alertable(output)
    assert [detection.label for detection in output.detections] == ["person"]


@pytest.mark.parametrize("score", [NAN, INF, -INF])
def test_an_anomaly_score_that_is_not_finite_is_no_score_and_no_anomaly(
    models_root: Path, make_service: ServiceFactory, registry: CollectorRegistry, score: float
) -> None:
    write_constant_model(models_root, "scene", np.array([score]), {"kind": "anomaly", "threshold": 0.5})
    service = make_service()

    output = detect(service, "scene")

    assert output.detections == ()
    assert output.anomaly_score is None
    assert odd_count(registry, "scene", "non_finite_anomaly_score") == 1


def one_row_short_bytes() -> bytes:
    """``images`` [batch, 3, SIZE, SIZE] -> ``output0`` [batch - 1, 6, 1]: one row short of the
    batch, which the file cannot declare (the row count comes from the data)."""
    return model_bytes(
        "one_row_short",
        [
            helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
            helper.make_node("Reshape", ["mean", "item_shape"], ["per_item"]),
            helper.make_node("Add", ["per_item", "value"], ["full"]),
            helper.make_node("Shape", ["full"], ["shape"]),
            helper.make_node("Gather", ["shape", "axis"], ["rows"]),
            helper.make_node("Sub", ["rows", "one"], ["end"]),
            helper.make_node("Slice", ["full", "start", "end", "axis"], ["output0"]),
        ],
        helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["rows", 6, 1]),
        [
            onnx.numpy_helper.from_array(np.array([-1, 1, 1], dtype=np.int64), "item_shape"),
            onnx.numpy_helper.from_array(yolov8(GOOD).astype(np.float32)[np.newaxis], "value"),
            onnx.numpy_helper.from_array(np.array([0], dtype=np.int64), "axis"),
            onnx.numpy_helper.from_array(np.array([0], dtype=np.int64), "start"),
            onnx.numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        ],
    )


def test_an_output_with_fewer_rows_than_frames_is_an_error_naming_the_output(
    models_root: Path, make_service: ServiceFactory
) -> None:
    # Given a detector whose output is one row short of its batch, served without warm-up (which
    # would refuse it at load)
    write_constant_model(models_root, "short", yolov8(GOOD), {"kind": "yolov8", "labels": LABELS})
    write_model_file(models_root, "short", 1, one_row_short_bytes())
    service = make_service(warmup_batches=0)

    # When a frame is detected, the error names the model, the output and its shape
    with pytest.raises(
        InferenceError, match=r"model short:1: output 'output0' has shape \[0, 6, 1\] for one"
    ):
        detect(service, "short")
