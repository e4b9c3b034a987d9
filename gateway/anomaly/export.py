"""A fitted ``SceneModel`` as an ONNX graph (onnx.helper only) and its model.yaml document.

The graph repeats the numpy reference (``features.py``, ``lighting.py``, ``scoring.py``) step for
step, cell statistics included, so the repository can serve it like any other model: ``frame``
uint8 [N, H, W, 3] BGR in; ``score`` float32 [N] and ``map`` float32 [N, rows, columns] (per fine
cell, the max over the scales of the windows covering it) out, both squashed to 0..1 with 0.5 at the
enrollment threshold. The same inputs and outputs as every earlier version, so a camera's model.yaml
(shared by all its versions) still fits. Its metadata leads with the digest of its weights
(``gateway.enrolled_file``), which the model repository checks whenever the version loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from gateway.anomaly.clipping import CLIPPED_OFFSET
from gateway.anomaly.features import (
    COLOURS,
    GRAIN,
    GREY_WEIGHTS,
    LAPLACIAN,
    MAD_TO_DEVIATION,
    REGION_COLUMNS,
    REGION_ROWS,
    GridSpec,
    basis,
    region_basis,
)
from gateway.anomaly.graph import Graph, median, median_where, slice_channels
from gateway.anomaly.model import SceneModel
from gateway.enrolled_file import DIGEST_KEY, GRAPH_NAME, PRODUCER, weights_digest

OPSET = 13
# Old enough for every onnxruntime the project supports (>= 1.18).
IR_VERSION = 8
INPUT_NAME = "frame"
SCORE_NAME = "score"
MAP_NAME = "map"
THRESHOLD = 0.5
"""model.yaml's threshold: the squashed score of the calibrated threshold, in every version."""


def _cells(graph: Graph, grid: GridSpec) -> str:
    """uint8 frames -> linear fine-cell means [N, 4, rows, columns]."""
    cell = [grid.cell_height, grid.cell_width]
    pixels_nhwc = graph.node("Cast", [INPUT_NAME], "pixels_nhwc", to=TensorProto.FLOAT)
    pixels = graph.node("Transpose", [pixels_nhwc], "pixels", perm=[0, 3, 1, 2])
    colour = graph.node("AveragePool", [pixels], "colour_cells", kernel_shape=cell, strides=cell)
    grey_kernel = graph.constant("grey_kernel", np.asarray(GREY_WEIGHTS).reshape(1, 3, 1, 1))
    grey = graph.node("Conv", [pixels, grey_kernel], "grey")
    # Edge padding at the far side keeps the gradient image at H x W with zero gradient there,
    # exactly like numpy's np.pad(mode="edge") in features.py.
    pads = graph.constant("edge_pads", [0, 0, 0, 0, 0, 0, 1, 1], np.int64)
    padded = graph.node("Pad", [grey, pads], "grey_padded", mode="edge")
    dx = graph.node("Conv", [padded, graph.constant("dx_kernel", [[[[-1.0, 1.0], [0.0, 0.0]]]])], "dx")
    dy = graph.node("Conv", [padded, graph.constant("dy_kernel", [[[[-1.0, 0.0], [1.0, 0.0]]]])], "dy")
    gradient = graph.node(
        "Add", [graph.node("Abs", [dx], "dx_abs"), graph.node("Abs", [dy], "dy_abs")], "gradient"
    )
    texture = graph.node("AveragePool", [gradient], "texture_cells", kernel_shape=cell, strides=cell)
    around = graph.node(
        "Pad",
        [grey, graph.constant("around_pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)],
        "grey_around",
        mode="edge",
    )
    laplacian = graph.node(
        "Conv",
        [around, graph.constant("laplacian_kernel", np.asarray(LAPLACIAN).reshape(1, 1, 3, 3))],
        "laplacian",
    )
    grain = graph.node(
        "AveragePool",
        [graph.node("Abs", [laplacian], "laplacian_abs")],
        "grain_cells",
        kernel_shape=cell,
        strides=cell,
    )
    return graph.node("Concat", [colour, texture, grain], "cells", axis=1)


def _noisier(graph: Graph, model: SceneModel, cells: str) -> str:
    """[N, 1, 1, 1]: the frame's grain (median over fine cells) over enrollment's."""
    grid = model.grid
    grain = slice_channels(graph, cells, GRAIN, GRAIN + 1, "grain")
    flat = graph.node(
        "Reshape", [grain, graph.constant("grain_shape", [0, 1, grid.cells], np.int64)], "grain_flat"
    )
    typical = median(graph, flat, grid.cells, "grain_median")
    per_frame = graph.node("Unsqueeze", [typical, graph.constant("last_axis", [3], np.int64)], "grain_frame")
    return graph.node("Mul", [per_frame, graph.constant("inverse_grain", 1.0 / model.grain)], "noisier")


def _lighting(graph: Graph, model: SceneModel, logs: str) -> tuple[str, str | None]:
    """(gain [N, 3, 1, 1], field coefficients [N, terms] or None) of ``estimate_lighting``."""
    grid, settings = model.grid, model.settings
    log_mean = np.log(model.fine.mean + settings.offsets()[0])[:COLOURS]
    colour_logs = slice_channels(graph, logs, 0, COLOURS, "colour_logs")
    deviation = graph.node("Sub", [colour_logs, graph.constant("colour_log_mean", log_mean)], "deviation")
    flat_shape = graph.constant("deviation_shape", [0, COLOURS, grid.cells], np.int64)
    flat = graph.node("Reshape", [deviation, flat_shape], "deviation_flat")
    if model.clip_level is None:
        gain_flat = median(graph, flat, grid.cells, "gain_flat")
    else:
        gain_flat = _unclipped_median(graph, model, colour_logs, flat)
    gain = graph.node("Unsqueeze", [gain_flat, graph.constant("last_axis", [3], np.int64)], "gain")
    terms = settings.basis_terms
    if terms <= 1:
        return gain, None
    shared_all = graph.node("Sub", [flat, gain_flat], "shared_channels")
    shared = graph.node("ReduceMean", [shared_all], "shared", axes=[1], keepdims=0)
    per_region = (grid.rows // REGION_ROWS) * (grid.columns // REGION_COLUMNS)
    region_shape = [0, REGION_ROWS, grid.rows // REGION_ROWS, REGION_COLUMNS, grid.columns // REGION_COLUMNS]
    cut = graph.node("Reshape", [shared, graph.constant("region_cut", region_shape, np.int64)], "regions_cut")
    moved = graph.node("Transpose", [cut], "regions_moved", perm=[0, 1, 3, 2, 4])
    grouped_shape = graph.constant("region_shape", [0, REGION_ROWS * REGION_COLUMNS, per_region], np.int64)
    grouped = graph.node("Reshape", [moved, grouped_shape], "regions")
    kept_medians = median(graph, grouped, per_region, "region_medians_kept")
    medians = graph.node(
        "Squeeze", [kept_medians, graph.constant("region_axis", [2], np.int64)], "region_medians"
    )
    coarse = region_basis(grid, terms)
    start = graph.constant("region_projection", np.linalg.pinv(coarse).T.astype(np.float32))
    expand_regions = graph.constant("region_basis_t", coarse.T)
    field = graph.node("MatMul", [medians, start], "region_field_0")
    for index in range(settings.region_refits):
        fitted = graph.node("MatMul", [field, expand_regions], f"region_fitted_{index}")
        off_raw = graph.node("Sub", [medians, fitted], f"region_off_raw_{index}")
        off = graph.node("Abs", [off_raw], f"region_off_{index}")
        typical = median(graph, off, REGION_ROWS * REGION_COLUMNS, f"region_typical_{index}")
        mad = graph.constant("mad_to_deviation", MAD_TO_DEVIATION)
        deviation = graph.node("Mul", [typical, mad], f"region_deviation_{index}")
        floor = graph.constant("region_floor", settings.region_floor)
        scale = graph.node("Add", [deviation, floor], f"region_scale_{index}")
        band = graph.node(
            "Mul", [scale, graph.constant("region_inlier", settings.region_inlier)], f"region_band_{index}"
        )
        outlier = graph.node("Greater", [off, band], f"region_outlier_{index}")
        kept = graph.node("Where", [outlier, fitted, medians], f"region_kept_{index}")
        field = graph.node("MatMul", [kept, start], f"region_field_{index + 1}")
    cells_basis = basis(grid, "fine", terms)
    expand = graph.constant("fine_basis_t", cells_basis.T)
    projection = graph.constant("fine_projection", np.linalg.pinv(cells_basis).T.astype(np.float32))
    band = graph.constant("inlier_band", settings.inlier * model.light_spread.reshape(1, -1))
    for index in range(settings.refits):
        fitted = graph.node("MatMul", [field, expand], f"fitted_{index}")
        distance = graph.node(
            "Abs", [graph.node("Sub", [shared, fitted], f"off_{index}")], f"distance_{index}"
        )
        outlier = graph.node("Greater", [distance, band], f"outlier_{index}")
        kept = graph.node("Where", [outlier, fitted, shared], f"kept_{index}")
        field = graph.node("MatMul", [kept, projection], f"field_{index + 1}")
    return gain, field


def _unclipped_median(graph: Graph, model: SceneModel, colour_logs: str, flat: str) -> str:
    """[N, 3, 1]: ``clipping.unclipped_median`` of the deviations over the cells not clipped."""
    grid, settings = model.grid, model.settings
    if model.clip_level is None:
        raise ValueError("the model has no clip levels")
    bright = np.log(settings.bright + settings.colour_offset)
    log_mean = np.log(model.fine.mean[:COLOURS] + settings.colour_offset)
    level = np.log(model.clip_level + settings.colour_offset)
    # a cell whose mean clipped through the enrollment is always left out
    limit = np.where(log_mean >= bright, np.float32(-1e30), level).astype(np.float32)
    clipped_cells = graph.node(
        "GreaterOrEqual", [colour_logs, graph.constant("clip_limit", limit[None])], "clipped_cells"
    )
    flat_shape = graph.constant("deviation_shape", [0, COLOURS, grid.cells], np.int64)
    clipped = graph.node("Reshape", [clipped_cells, flat_shape], "clipped_flat")
    return median_where(graph, flat, clipped, count=grid.cells, offset=CLIPPED_OFFSET, name="gain_flat")


def _excess(graph: Graph, model: SceneModel, gain: str) -> str:
    """[N, 1, 1, 1]: how far the frame's gains lie outside the enrolled range."""
    high = graph.constant("gain_high", model.gain_high.reshape(1, -1, 1, 1))
    low = graph.constant("gain_low", model.gain_low.reshape(1, -1, 1, 1))
    zero = graph.constant("zero", 0.0)
    above = graph.node("Max", [graph.node("Sub", [gain, high], "above_raw"), zero], "above")
    below = graph.node("Max", [graph.node("Sub", [low, gain], "below_raw"), zero], "below")
    outside = graph.node("Add", [above, below], "outside")
    return graph.node("ReduceMax", [outside], "excess", axes=[1], keepdims=1)


def _observed(graph: Graph, cells: str, scale: str) -> str:
    if scale == "fine":
        return cells
    if scale == "coarse":
        cells = graph.node("AveragePool", [cells], "cells_2x2", kernel_shape=[2, 2], strides=[2, 2])
    return graph.node("AveragePool", [cells], f"{scale}_observed", kernel_shape=[2, 2], strides=[1, 1])


def _scale_map(
    graph: Graph,
    model: SceneModel,
    index: int,
    *,
    cells: str,
    light: tuple[str, str | None],
    excess: str,
    noisier: str,
) -> str:
    """One scale's ``z / threshold``, max over channels, spread to fine cells [N, rows, columns]."""
    grid, settings, scale = model.grid, model.settings, model.scales[index]
    gain, field = light
    name = scale.scale
    rows, columns = grid.shape(name)
    offsets = graph.constant(f"{name}_offsets", settings.offsets())
    observed = graph.node(
        "Log",
        [graph.node("Add", [_observed(graph, cells, name), offsets], f"{name}_shifted")],
        f"{name}_logs",
    )
    colour_light = gain
    if field is not None:
        spatial_flat = graph.node(
            "MatMul",
            [field, graph.constant(f"{name}_basis_t", basis(grid, name, settings.basis_terms).T)],
            f"{name}_spatial_flat",
        )
        spatial_shape = graph.constant(f"{name}_spatial_shape", [-1, 1, rows, columns], np.int64)
        spatial = graph.node("Reshape", [spatial_flat, spatial_shape], f"{name}_spatial")
        colour_light = graph.node("Add", [gain, spatial], f"{name}_colour_light")
    luma_light = graph.node("ReduceMean", [colour_light], f"{name}_luma_light", axes=[1], keepdims=1)
    colour_gain = graph.node("Exp", [colour_light], f"{name}_colour_gain")
    brightened = graph.node(
        "Mul",
        [graph.constant(f"{name}_colour_mean", scale.mean[:COLOURS][None]), colour_gain],
        f"{name}_colour_lit",
    )
    colour = graph.node("Min", [brightened, graph.constant("white", 255.0)], f"{name}_colour_expected")
    edges = graph.node(
        "Mul",
        [
            graph.constant(f"{name}_texture_signal", scale.texture_signal[None, None]),
            graph.node("Exp", [luma_light], f"{name}_luma_gain"),
        ],
        f"{name}_edges",
    )
    noise = graph.node(
        "Mul",
        [graph.constant(f"{name}_texture_noise", scale.texture_noise[None, None]), noisier],
        f"{name}_noise",
    )
    texture = graph.node("Add", [edges, noise], f"{name}_texture_expected")
    expected_linear = graph.node("Concat", [colour, texture], f"{name}_expected_linear", axis=1)
    expected = graph.node(
        "Log", [graph.node("Add", [expected_linear, offsets], f"{name}_expected_shifted")], f"{name}_expected"
    )
    residual = graph.node("Sub", [observed, expected], f"{name}_residual")
    peak = graph.node(
        "Mul",
        [graph.constant(f"{name}_colour_peak", scale.peak[None]), colour_gain],
        f"{name}_peak_lit",
    )
    brightest = graph.node("ReduceMax", [peak], f"{name}_brightest", axes=[1], keepdims=1)
    bright = graph.node(
        "GreaterOrEqual",
        [brightest, graph.constant(f"{name}_bright", settings.bright)],
        f"{name}_bright_cells",
    )
    texture_residual = slice_channels(graph, residual, COLOURS, COLOURS + 1, f"{name}_texture_residual")
    texture_kept = graph.node(
        "Where", [bright, graph.constant(f"{name}_nothing", 0.0), texture_residual], f"{name}_texture_kept"
    )
    colour_residual = slice_channels(graph, residual, 0, COLOURS, f"{name}_colour_residual")
    kept = graph.node("Concat", [colour_residual, texture_kept], f"{name}_kept", axis=1)
    widen = graph.node(
        "Mul", [graph.constant(f"{name}_excess_weights", settings.excess_weights()), excess], f"{name}_widen"
    )
    widen_squared = graph.node("Mul", [widen, widen], f"{name}_widen_squared")
    spread_squared = graph.node(
        "Add",
        [graph.constant(f"{name}_spread_squared", np.square(scale.spread)[None]), widen_squared],
        f"{name}_spread_squared_total",
    )
    spread = graph.node("Sqrt", [spread_squared], f"{name}_spread")
    z = graph.node("Div", [graph.node("Abs", [kept], f"{name}_distance"), spread], f"{name}_z")
    worst = graph.node("ReduceMax", [z], f"{name}_worst", axes=[1], keepdims=1)
    scaled = graph.node(
        "Mul", [worst, graph.constant(f"{name}_inverse_threshold", 1.0 / scale.threshold)], f"{name}_scaled"
    )
    if name == "fine":
        return scaled
    pads = graph.constant(f"{name}_pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    padded = graph.node("Pad", [scaled, pads], f"{name}_padded")
    covering = graph.node("MaxPool", [padded], f"{name}_covering", kernel_shape=[2, 2], strides=[1, 1])
    if name == "medium":
        return covering
    half_rows, half_columns = grid.rows // 2, grid.columns // 2
    split = graph.node(
        "Reshape",
        [covering, graph.constant("coarse_split", [-1, 1, half_rows, 1, half_columns, 1], np.int64)],
        "coarse_split_cells",
    )
    repeated = graph.node(
        "Expand", [split, graph.constant("coarse_repeat", [1, 1, 1, 2, 1, 2], np.int64)], "coarse_repeated"
    )
    return graph.node(
        "Reshape",
        [repeated, graph.constant("coarse_fine", [-1, 1, grid.rows, grid.columns], np.int64)],
        "coarse_fine_cells",
    )


def build_graph(model: SceneModel, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    grid, settings = model.grid, model.settings
    graph = Graph()
    measured = _cells(graph, grid)
    cells = slice_channels(graph, measured, 0, GRAIN, "scored_cells")
    logs = graph.node(
        "Log",
        [graph.node("Add", [cells, graph.constant("offsets", settings.offsets())], "cells_shifted")],
        "cell_logs",
    )
    light = _lighting(graph, model, logs)
    excess = _excess(graph, model, light[0])
    noisier = _noisier(graph, model, measured) if settings.follow_noise else graph.constant("same_noise", 1.0)
    maps = [
        _scale_map(graph, model, index, cells=cells, light=light, excess=excess, noisier=noisier)
        for index in range(len(model.scales))
    ]
    combined = maps[0] if len(maps) == 1 else graph.node("Max", maps, "combined")
    raw_map = graph.node("Squeeze", [combined, graph.constant("channel_axis", [1], np.int64)], "raw_map")
    raw_score = graph.node("ReduceMax", [raw_map], "raw_score", axes=[1, 2], keepdims=0)
    one = graph.constant("one", 1.0)
    graph.node("Div", [raw_score, graph.node("Add", [raw_score, one], "score_denominator")], SCORE_NAME)
    graph.node("Div", [raw_map, graph.node("Add", [raw_map, one], "map_denominator")], MAP_NAME)
    onnx_graph = helper.make_graph(
        graph.nodes,
        GRAPH_NAME,
        inputs=[
            helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", grid.height, grid.width, 3])
        ],
        outputs=[
            helper.make_tensor_value_info(SCORE_NAME, TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info(MAP_NAME, TensorProto.FLOAT, ["N", grid.rows, grid.columns]),
        ],
        initializer=graph.initializers,
    )
    proto = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER
    )
    proto.ir_version = IR_VERSION
    entries = {
        # First: a copy cut short at the boundary between two metadata entries keeps it.
        DIGEST_KEY: weights_digest(proto.graph),
        "thresholds": ",".join(f"{scale.scale}={scale.threshold:.6g}" for scale in model.scales),
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
        "postprocess": {
            "kind": "anomaly",
            "output": SCORE_NAME,
            "map_output": MAP_NAME,
            "threshold": THRESHOLD,
        },
    }
