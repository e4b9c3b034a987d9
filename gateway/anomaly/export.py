"""A fitted ``SceneModel`` as an ONNX graph (onnx.helper only) and its model.yaml document.

The graph repeats ``features.py`` step for step, pre-processing included, so the repository can serve
it like any other model: ``frame`` uint8 [N, H, W, 3] BGR in; ``score`` float32 [N] and ``map``
float32 [N, rows, columns] out, both squashed to 0..1 with 0.5 at the enrollment threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from gateway.anomaly.features import EXCESS_WEIGHT, GREY_WEIGHTS, LOG_OFFSET, SceneModel

OPSET = 13
# Old enough for every onnxruntime the project supports (>= 1.18).
IR_VERSION = 8
INPUT_NAME = "frame"
SCORE_NAME = "score"
MAP_NAME = "map"
THRESHOLD = 0.5
"""model.yaml's threshold: the squashed score of the calibrated raw threshold, in every version."""


def _constant(name: str, value: Any, dtype: type[np.generic] = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def build_graph(model: SceneModel, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    grid = model.grid
    channels = model.mean.shape[0]
    cell = [grid.cell_height, grid.cell_width]
    grey_kernel = np.asarray(GREY_WEIGHTS, dtype=np.float32).reshape(1, 3, 1, 1)
    dx_kernel = np.asarray([[[[-1.0, 1.0], [0.0, 0.0]]]], dtype=np.float32)
    dy_kernel = np.asarray([[[[-1.0, 0.0], [1.0, 0.0]]]], dtype=np.float32)
    initializers = [
        _constant("grey_kernel", grey_kernel),
        _constant("dx_kernel", dx_kernel),
        _constant("dy_kernel", dy_kernel),
        _constant("edge_pads", [0, 0, 0, 0, 0, 0, 1, 1], np.int64),
        _constant("log_offset", np.asarray(LOG_OFFSET).reshape(1, -1, 1, 1)),
        _constant("cell_mean", model.mean),
        _constant("spread_squared", np.square(model.spread)),
        _constant("gain_low", model.gain_low),
        _constant("gain_high", model.gain_high),
        _constant("excess_weight", EXCESS_WEIGHT),
        _constant("zero", 0.0),
        _constant("flat_shape", [0, channels, grid.cells], np.int64),
        _constant("median_rank", [grid.median_rank], np.int64),
        _constant("last_start", [-1], np.int64),
        _constant("last_end", [grid.median_rank], np.int64),
        _constant("last_axis", [2], np.int64),
        _constant("gain_shape", [0, channels, 1, 1], np.int64),
        _constant("score_shape", [0, grid.cells], np.int64),
        _constant("raw_threshold", model.raw_threshold),
    ]
    nodes = [
        helper.make_node("Cast", [INPUT_NAME], ["pixels_nhwc"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["pixels_nhwc"], ["pixels"], perm=[0, 3, 1, 2]),
        helper.make_node("AveragePool", ["pixels"], ["colour"], kernel_shape=cell, strides=cell),
        helper.make_node("Conv", ["pixels", "grey_kernel"], ["grey"]),
        # Edge padding at the far side keeps the gradient image at H x W with zero gradient there,
        # exactly like numpy's np.pad(mode="edge") in features.py.
        helper.make_node("Pad", ["grey", "edge_pads"], ["grey_padded"], mode="edge"),
        helper.make_node("Conv", ["grey_padded", "dx_kernel"], ["dx"]),
        helper.make_node("Conv", ["grey_padded", "dy_kernel"], ["dy"]),
        helper.make_node("Abs", ["dx"], ["dx_abs"]),
        helper.make_node("Abs", ["dy"], ["dy_abs"]),
        helper.make_node("Add", ["dx_abs", "dy_abs"], ["gradient"]),
        helper.make_node("AveragePool", ["gradient"], ["texture"], kernel_shape=cell, strides=cell),
        helper.make_node("Concat", ["colour", "texture"], ["features_linear"], axis=1),
        helper.make_node("Add", ["features_linear", "log_offset"], ["features_offset"]),
        helper.make_node("Log", ["features_offset"], ["features"]),
        helper.make_node("Sub", ["features", "cell_mean"], ["deviation"]),
        helper.make_node("Reshape", ["deviation", "flat_shape"], ["deviation_flat"]),
        # TopK's k-th largest value is the median over cells: the frame's lighting gain per channel.
        helper.make_node("TopK", ["deviation_flat", "median_rank"], ["top", "top_indices"], axis=-1),
        helper.make_node("Slice", ["top", "last_start", "last_end", "last_axis"], ["median"]),
        helper.make_node("Reshape", ["median", "gain_shape"], ["gain"]),
        helper.make_node("Sub", ["deviation", "gain"], ["residual"]),
        helper.make_node("Abs", ["residual"], ["residual_abs"]),
        # Lighting outside the enrolled range widens every cell's spread (features.py explains why).
        helper.make_node("Sub", ["gain", "gain_high"], ["above"]),
        helper.make_node("Sub", ["gain_low", "gain"], ["below"]),
        helper.make_node("Max", ["above", "below", "zero"], ["outside"]),
        helper.make_node("ReduceMax", ["outside"], ["excess"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["excess", "excess_weight"], ["excess_spread"]),
        helper.make_node("Mul", ["excess_spread", "excess_spread"], ["excess_squared"]),
        helper.make_node("Add", ["spread_squared", "excess_squared"], ["spread_total_squared"]),
        helper.make_node("Sqrt", ["spread_total_squared"], ["spread"]),
        helper.make_node("Div", ["residual_abs", "spread"], ["z"]),
        helper.make_node("ReduceMax", ["z"], ["raw_map"], axes=[1], keepdims=0),
        helper.make_node("Reshape", ["raw_map", "score_shape"], ["raw_flat"]),
        helper.make_node("ReduceMax", ["raw_flat"], ["raw_score"], axes=[1], keepdims=0),
        helper.make_node("Add", ["raw_score", "raw_threshold"], ["score_denominator"]),
        helper.make_node("Div", ["raw_score", "score_denominator"], [SCORE_NAME]),
        helper.make_node("Add", ["raw_map", "raw_threshold"], ["map_denominator"]),
        helper.make_node("Div", ["raw_map", "map_denominator"], [MAP_NAME]),
    ]
    graph = helper.make_graph(
        nodes,
        "scene_anomaly",
        inputs=[
            helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", grid.height, grid.width, 3])
        ],
        outputs=[
            helper.make_tensor_value_info(SCORE_NAME, TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info(MAP_NAME, TensorProto.FLOAT, ["N", grid.rows, grid.columns]),
        ],
        initializer=initializers,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edge-gateway"
    )
    proto.ir_version = IR_VERSION
    entries = {
        "raw_threshold": f"{model.raw_threshold:.6g}",
        "enrollment_frames": str(model.frames),
        "normal_quantile": f"{model.normal_quantile:.6g}",
        **(metadata or {}),
    }
    helper.set_model_props(proto, entries)
    onnx.checker.check_model(proto)
    return proto


def model_document(model: SceneModel, max_batch_size: int = 8) -> dict[str, Any]:
    """model.yaml for the graph (schema: gateway/inference/model_config.py)."""
    grid = model.grid
    return {
        "platform": "onnxruntime_onnx",
        "max_batch_size": max_batch_size,
        "inputs": [{"name": INPUT_NAME, "datatype": "UINT8", "dims": [grid.height, grid.width, 3]}],
        "outputs": [
            {"name": SCORE_NAME, "datatype": "FP32", "dims": []},
            {"name": MAP_NAME, "datatype": "FP32", "dims": [grid.rows, grid.columns]},
        ],
        "preprocess": {
            "width": grid.width,
            "height": grid.height,
            "layout": "NHWC",
            "color": "BGR",
            "datatype": "UINT8",
            "scale": 1.0,
            "mean": [0.0],
            "std": [1.0],
            "letterbox": False,
        },
        "postprocess": {"kind": "anomaly", "output": SCORE_NAME, "threshold": THRESHOLD},
    }
