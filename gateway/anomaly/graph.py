"""A small builder for ONNX graphs (onnx.helper only): named values, deduplicated constants, and the
patterns the scene-anomaly graph uses (an upper median by TopK, one over the entries a mask leaves,
a slice of channels)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Graph:
    """Collects nodes and initializers; every value gets a unique name from its role."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._constants: dict[str, np.ndarray[Any, Any]] = {}

    def constant(self, name: str, value: Any, dtype: type[np.generic] = np.float32) -> str:
        array = np.asarray(value, dtype=dtype)
        if name in self._constants:
            if not np.array_equal(self._constants[name], array):
                raise ValueError(f"graph constant {name!r} defined twice with different values")
            return name
        self._constants[name] = array
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes: Any) -> str:
        if name in self._names:
            raise ValueError(f"graph value {name!r} defined twice")
        self._names.add(name)
        self.nodes.append(helper.make_node(op, inputs, [name], **attributes))
        return name

    def outputs(self, op: str, inputs: list[str], names: list[str], **attributes: Any) -> list[str]:
        self._names.update(names)
        self.nodes.append(helper.make_node(op, inputs, names, **attributes))
        return names


def median(graph: Graph, values: str, count: int, name: str) -> str:
    """Upper median over the last axis of ``values`` (count entries), keeping that axis as 1."""
    rank = graph.constant(f"{name}_rank", [(count + 1) // 2], np.int64)
    top, _ = graph.outputs("TopK", [values, rank], [f"{name}_top", f"{name}_indices"], axis=-1)
    start = graph.constant(f"{name}_start", [-1], np.int64)
    end = graph.constant(f"{name}_end", [(count + 1) // 2], np.int64)
    axis = graph.constant(f"{name}_axis", [-1], np.int64)
    return graph.node("Slice", [top, start, end, axis], name)


def slice_channels(graph: Graph, values: str, first: int, last: int, name: str) -> str:
    starts = graph.constant(f"{name}_from", [first], np.int64)
    ends = graph.constant(f"{name}_to", [last], np.int64)
    axes = graph.constant(f"{name}_axes", [1], np.int64)
    return graph.node("Slice", [values, starts, ends, axes], name)


def median_where(graph: Graph, values: str, left_out: str, *, count: int, offset: float, name: str) -> str:
    """Upper median over the last axis of ``values`` (count entries) of those ``left_out`` (bool, same
    shape) does not mark, keeping that axis as 1; of all of them where it marks every one. Marked
    entries are raised by ``offset`` (larger than any spread of the values) so they sort last."""
    raised = graph.node("Add", [values, graph.constant(f"{name}_offset", offset)], f"{name}_raised")
    keys = graph.node("Where", [left_out, raised, values], f"{name}_keys")
    every = graph.constant(f"{name}_count", [count], np.int64)
    ordered, _ = graph.outputs(
        "TopK", [keys, every], [f"{name}_ordered", f"{name}_order"], axis=-1, largest=0, sorted=1
    )
    kept = graph.node(
        "Cast", [graph.node("Not", [left_out], f"{name}_kept_mask")], f"{name}_kept", to=TensorProto.FLOAT
    )
    axis = graph.constant(f"{name}_axis", [-1], np.int64)
    remaining = graph.node("ReduceSum", [kept, axis], f"{name}_remaining")
    some = graph.node("Greater", [remaining, graph.constant(f"{name}_none", 0.0)], f"{name}_some")
    counted = graph.node(
        "Where", [some, remaining, graph.constant(f"{name}_all", float(count))], f"{name}_counted"
    )
    # upper median of n sorted entries: index n - (n + 1) // 2
    plus = graph.node("Add", [counted, graph.constant(f"{name}_one", 1.0)], f"{name}_plus")
    half = graph.node(
        "Floor",
        [graph.node("Mul", [plus, graph.constant(f"{name}_one_half", 0.5)], f"{name}_halved")],
        f"{name}_half",
    )
    position = graph.node("Sub", [counted, half], f"{name}_position")
    index = graph.node("Cast", [position], f"{name}_index", to=TensorProto.INT64)
    picked = graph.node("GatherElements", [ordered, index], f"{name}_picked", axis=-1)
    lowered = graph.node("Sub", [picked, graph.constant(f"{name}_offset", offset)], f"{name}_lowered")
    return graph.node("Where", [some, picked, lowered], name)
