"""The weights digest an enrolled model file records: what it covers is part of the model file
contract (a change would refuse every version enrolled before it), the same wherever the values are
stored, and values that cannot be read are a ValueError naming the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx.external_data_helper import convert_model_to_external_data, write_external_data_tensors

from gateway.enrolled_file import weights_digest

DIGEST = "4d9a25b17b3154401d1e84e31d1d80b2dc913be7168601e84cfa9e630d362e86"
"""SHA-256 of b"spread\\0" b"1\\0" b"2,2\\0" b"16\\0", the four floats little-endian, then b"pads\\0"
b"7\\0" b"4\\0" b"32\\0" and the four int64s: name, data type, shape, byte count, values."""


def graph(*, typed: bool = False) -> onnx.GraphProto:
    spread = numpy_helper.from_array(np.array([[1.5, -2.0], [0.25, 3.0]], np.float32), "spread")
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1], np.int64), "pads")
    if typed:  # the values in the typed fields, as some writers keep them, rather than raw bytes
        spread.ClearField("raw_data")
        spread.float_data.extend([1.5, -2.0, 0.25, 3.0])
    return helper.make_graph([], "weights", [], [], initializer=[spread, pads])


def test_the_digest_covers_names_types_shapes_and_values_in_order() -> None:
    assert weights_digest(graph()) == DIGEST
    assert weights_digest(graph(typed=True)) == DIGEST


def test_external_data_gives_the_same_digest_and_missing_data_is_named(tmp_path: Path) -> None:
    # Given the weights kept in an external data file beside the model
    model = helper.make_model(graph())
    convert_model_to_external_data(model, location="weights.data", size_threshold=0)
    write_external_data_tensors(model, str(tmp_path))
    # Then the digest is the same, read from there
    assert weights_digest(model.graph, tmp_path) == DIGEST
    # and without the file, or without a directory to find it in, it is a ValueError naming it
    (tmp_path / "weights.data").unlink()
    with pytest.raises(ValueError, match=r"weights\.data"):
        weights_digest(model.graph, tmp_path)
    with pytest.raises(ValueError, match="'spread' keeps its values in external data"):
        weights_digest(model.graph)
