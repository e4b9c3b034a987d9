"""``yolov8n-bench``: a YOLOv8n-shaped ONNX graph with seeded random weights, for throughput work.

The layers, channel widths and depths are YOLOv8n's (width 0.25, depth 0.33: Conv+SiLU stem, C2f
blocks, SPPF, the FPN/PAN neck and the decoupled Detect head with its DFL box decoding) as an
Ultralytics export looks after Conv/BatchNorm fusion, so ONNX Runtime does the same work as on the
real model: about 8.7 GFLOPs per frame at 640. Batch, height and width are dynamic (multiples of
32); the output is ``output0`` ``[N, 84, anchors]`` with the 80 COCO classes, exactly the layout
of a real YOLOv8 export, so the yolov8 decoder and the serving path run unchanged.

Weights are drawn from a seeded generator and scaled to keep activations bounded, and the class
biases use Ultralytics' prior (a few objects per image), so a frame scores near zero for every
class, like a real detector on an empty scene. Built with onnx.helper only: no torch, no model hub.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 8
OPSET = 17
IR_VERSION = 8
CLASSES = 80
REG_MAX = 16
STRIDES = (8, 16, 32)
COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


@dataclass
class _Graph:
    """Accumulates nodes and seeded weights; counts multiply-accumulates per input pixel."""

    rng: np.random.Generator
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    weights: list[onnx.TensorProto] = field(default_factory=list)
    macs_per_pixel: float = 0.0
    """Conv multiply-accumulates per input pixel (a stride-s feature map has 1/s^2 as many)."""
    counter: int = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def constant(self, prefix: str, value: npt.NDArray[np.generic]) -> str:
        name = self.name(prefix)
        self.weights.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attributes: Any) -> list[str]:
        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.name(op), **attributes))
        return names

    def conv(
        self,
        x: str,
        channels_in: int,
        channels_out: int,
        kernel: int,
        *,
        stride: int = 1,
        scale: int,
        activation: bool = True,
        bias: npt.NDArray[np.float32] | None = None,
    ) -> str:
        """Conv (BatchNorm folded in) + SiLU; ``scale`` is the input map's stride from the image."""
        fan_in = channels_in * kernel * kernel
        # He-style scale keeps activations in a bounded range through 60-odd layers.
        weight = self.rng.normal(0, math.sqrt(2.0 / fan_in), (channels_out, channels_in, kernel, kernel))
        if bias is None:
            bias = self.rng.normal(0, 0.05, channels_out).astype(np.float32)
        inputs = [x, self.constant("w", weight.astype(np.float32)), self.constant("b", bias)]
        padding = kernel // 2
        (y,) = self.node(
            "Conv",
            inputs,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[padding] * 4,
        )
        self.macs_per_pixel += channels_out * fan_in / (scale * stride) ** 2
        return self.silu(y) if activation else y

    def silu(self, x: str) -> str:
        (gate,) = self.node("Sigmoid", [x])
        (y,) = self.node("Mul", [x, gate])
        return y


def _bottleneck(graph: _Graph, x: str, channels: int, shortcut: bool, scale: int) -> str:
    y = graph.conv(x, channels, channels, 3, scale=scale)
    y = graph.conv(y, channels, channels, 3, scale=scale)
    return graph.node("Add", [x, y])[0] if shortcut else y


def _c2f(
    graph: _Graph, x: str, channels_in: int, channels_out: int, *, depth: int, shortcut: bool, scale: int
) -> str:
    hidden = channels_out // 2
    y = graph.conv(x, channels_in, 2 * hidden, 1, scale=scale)
    split = graph.constant("split", np.array([hidden, hidden], dtype=np.int64))
    parts = graph.node("Split", [y, split], outputs=2, axis=1)
    for _ in range(depth):
        parts.append(_bottleneck(graph, parts[-1], hidden, shortcut, scale))
    (joined,) = graph.node("Concat", parts, axis=1)
    return graph.conv(joined, (2 + depth) * hidden, channels_out, 1, scale=scale)


def _sppf(graph: _Graph, x: str, channels: int, scale: int) -> str:
    hidden = channels // 2
    pooled = [graph.conv(x, channels, hidden, 1, scale=scale)]
    for _ in range(3):
        pooled += graph.node("MaxPool", [pooled[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])
    (joined,) = graph.node("Concat", pooled, axis=1)
    return graph.conv(joined, 4 * hidden, channels, 1, scale=scale)


def _upsample(graph: _Graph, x: str, like: str) -> str:
    """Nearest 2x upsampling, sized to ``like`` (the skip connection) rather than by a factor of 2,
    so odd sizes (the repository warms dynamic dims up at 1x1) still line up at the Concat."""
    parts = []
    for tensor, start, end in ((x, 0, 2), (like, 2, 4)):
        (shape,) = graph.node("Shape", [tensor])
        bounds = [graph.constant("bound", np.array([value], dtype=np.int64)) for value in (start, end)]
        parts += graph.node("Slice", [shape, *bounds])
    (sizes,) = graph.node("Concat", parts, axis=0)
    return graph.node(
        "Resize", [x, "", "", sizes], mode="nearest", coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )[0]  # fmt: skip


def _anchors(graph: _Graph, feature: str, stride: int) -> tuple[str, str]:
    """Anchor centres ``[1, 2, h*w]`` (feature-map units) and strides ``[1, 1, h*w]`` for any size."""
    (shape,) = graph.node("Shape", [feature])
    sizes = []
    for axis in (2, 3):
        index = graph.constant("axis", np.array(axis, dtype=np.int64))
        (size,) = graph.node("Gather", [shape, index], axis=0)
        sizes.append(size)
    grids = []
    for size in sizes:
        (limit,) = graph.node("Cast", [size], to=TensorProto.FLOAT)
        start = graph.constant("start", np.array(0.5, dtype=np.float32))
        (limit,) = graph.node("Add", [limit, start])
        step = graph.constant("step", np.array(1.0, dtype=np.float32))
        grids += graph.node("Range", [start, limit, step])
    unsqueezed = [graph.node("Unsqueeze", [size, graph.constant("axes", np.array([0]))])[0] for size in sizes]
    (grid_shape,) = graph.node("Concat", unsqueezed, axis=0)
    (ys,) = graph.node("Unsqueeze", [grids[0], graph.constant("axes", np.array([1]))])
    (xs,) = graph.node("Unsqueeze", [grids[1], graph.constant("axes", np.array([0]))])
    flat = graph.constant("flat", np.array([1, 1, -1], dtype=np.int64))
    coordinates = []
    for line in (xs, ys):
        (expanded,) = graph.node("Expand", [line, grid_shape])
        coordinates += graph.node("Reshape", [expanded, flat])
    (centres,) = graph.node("Concat", coordinates, axis=1)
    (ones,) = graph.node("Mul", [coordinates[0], graph.constant("zero", np.array(0.0, dtype=np.float32))])
    (strides,) = graph.node(
        "Add", [ones, graph.constant("stride", np.array(float(stride), dtype=np.float32))]
    )
    return centres, strides


def _detect(graph: _Graph, features: list[tuple[str, int, int]]) -> str:
    box_channels = max(16, features[0][1] // 4, REG_MAX * 4)
    class_channels = max(features[0][1], min(CLASSES, 100))
    levels, centres, strides = [], [], []
    for feature, channels, stride in features:
        box = graph.conv(feature, channels, box_channels, 3, scale=stride)
        box = graph.conv(box, box_channels, box_channels, 3, scale=stride)
        box = graph.conv(box, box_channels, 4 * REG_MAX, 1, scale=stride, activation=False)
        prior = math.log(5 / CLASSES / (640 / stride) ** 2)
        cls = graph.conv(feature, channels, class_channels, 3, scale=stride)
        cls = graph.conv(cls, class_channels, class_channels, 3, scale=stride)
        prior_bias = np.full(CLASSES, prior, dtype=np.float32)
        cls = graph.conv(cls, class_channels, CLASSES, 1, scale=stride, activation=False, bias=prior_bias)
        (joined,) = graph.node("Concat", [box, cls], axis=1)
        flat = graph.constant("shape", np.array([0, 4 * REG_MAX + CLASSES, -1], dtype=np.int64))
        levels += graph.node("Reshape", [joined, flat])
        centre, stride_row = _anchors(graph, feature, stride)
        centres.append(centre)
        strides.append(stride_row)
    (everything,) = graph.node("Concat", levels, axis=2)
    (anchor_centres,) = graph.node("Concat", centres, axis=2)
    (anchor_strides,) = graph.node("Concat", strides, axis=2)
    split = graph.constant("split", np.array([4 * REG_MAX, CLASSES], dtype=np.int64))
    box, cls = graph.node("Split", [everything, split], outputs=2, axis=1)
    # DFL: each side is a softmax over REG_MAX bins; its expectation is the distance in cells.
    bins = graph.constant("bins", np.array([0, 4, REG_MAX, -1], dtype=np.int64))
    (box,) = graph.node("Reshape", [box, bins])
    (box,) = graph.node("Transpose", [box], perm=[0, 2, 1, 3])
    (box,) = graph.node("Softmax", [box], axis=1)
    expectation = graph.constant("dfl", np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1))
    (box,) = graph.node("Conv", [box, expectation], kernel_shape=[1, 1])
    (distances,) = graph.node("Reshape", [box, graph.constant("shape", np.array([0, 4, -1], dtype=np.int64))])
    near, far = graph.node("Split", [distances, graph.constant("split", np.array([2, 2]))], outputs=2, axis=1)
    (top_left,) = graph.node("Sub", [anchor_centres, near])
    (bottom_right,) = graph.node("Add", [anchor_centres, far])
    (centre_sum,) = graph.node("Add", [top_left, bottom_right])
    (centre,) = graph.node("Div", [centre_sum, graph.constant("two", np.array(2.0, dtype=np.float32))])
    (size,) = graph.node("Sub", [bottom_right, top_left])
    (xywh,) = graph.node("Concat", [centre, size], axis=1)
    (xywh,) = graph.node("Mul", [xywh, anchor_strides])
    (scores,) = graph.node("Sigmoid", [cls])
    return graph.node("Concat", [xywh, scores], axis=1)[0]


def build_model(seed: int = SEED) -> tuple[onnx.ModelProto, float]:
    """The graph and its GFLOPs at 640x640 (2 x multiply-accumulates of the convolutions)."""
    graph = _Graph(np.random.default_rng(seed))
    x = "images"
    x = graph.conv(x, 3, 16, 3, stride=2, scale=1)
    x = graph.conv(x, 16, 32, 3, stride=2, scale=2)
    x = _c2f(graph, x, 32, 32, depth=1, shortcut=True, scale=4)
    x = graph.conv(x, 32, 64, 3, stride=2, scale=4)
    p3 = _c2f(graph, x, 64, 64, depth=2, shortcut=True, scale=8)
    x = graph.conv(p3, 64, 128, 3, stride=2, scale=8)
    p4 = _c2f(graph, x, 128, 128, depth=2, shortcut=True, scale=16)
    x = graph.conv(p4, 128, 256, 3, stride=2, scale=16)
    x = _c2f(graph, x, 256, 256, depth=1, shortcut=True, scale=32)
    p5 = _sppf(graph, x, 256, 32)
    (x,) = graph.node("Concat", [_upsample(graph, p5, p4), p4], axis=1)
    neck4 = _c2f(graph, x, 384, 128, depth=1, shortcut=False, scale=16)
    (x,) = graph.node("Concat", [_upsample(graph, neck4, p3), p3], axis=1)
    out3 = _c2f(graph, x, 192, 64, depth=1, shortcut=False, scale=8)
    (x,) = graph.node("Concat", [graph.conv(out3, 64, 64, 3, stride=2, scale=8), neck4], axis=1)
    out4 = _c2f(graph, x, 192, 128, depth=1, shortcut=False, scale=16)
    (x,) = graph.node("Concat", [graph.conv(out4, 128, 128, 3, stride=2, scale=16), p5], axis=1)
    out5 = _c2f(graph, x, 384, 256, depth=1, shortcut=False, scale=32)
    output = _detect(graph, [(out3, 64, 8), (out4, 128, 16), (out5, 256, 32)])
    graph.nodes[-1].output[0] = "output0"
    del output
    onnx_graph = helper.make_graph(
        graph.nodes,
        "yolov8n-bench",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + CLASSES, "anchors"])],
        initializer=graph.weights,
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="edge-gateway build/yolov8n_bench.py",
        doc_string=f"YOLOv8n-shaped graph, random weights (seed {seed}), for throughput benchmarks only",
    )
    onnx.checker.check_model(model, full_check=True)
    return model, 2 * graph.macs_per_pixel * 640 * 640 / 1e9


def write(path: Path, seed: int = SEED) -> float:
    """Build and write the model to ``path``; returns its GFLOPs at 640."""
    model, gflops = build_model(seed)
    path.write_bytes(model.SerializeToString())
    return gflops
