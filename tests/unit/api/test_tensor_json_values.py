"""JSON ``data`` values are taken only as the datatype's own JSON type: numpy would otherwise turn a
string, a boolean, a null or a fraction into some number and run the model on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.api.tensors import parse_infer_request
from gateway.errors import InvalidInputError


def document(datatype: str, data: object, shape: list[int] | None = None) -> bytes:
    size = len(data) if isinstance(data, list) else 1
    tensor = {"name": "x", "datatype": datatype, "shape": shape or [size], "data": data}
    return json.dumps({"inputs": [tensor]}).encode()


@pytest.mark.parametrize(
    ("datatype", "data", "fragment"),
    [
        ("FP32", [1, "3"], 'holds "3"; FP32 takes numbers'),
        ("FP32", [1, True], "holds true; FP32 takes numbers"),
        ("FP32", [1, None], "holds null; FP32 takes numbers"),
        ("FP32", [1, {"a": 1}], 'holds {"a": 1}'),
        ("INT64", [1, 1.5], "holds 1.5; INT64 takes integers"),
        ("UINT8", [1, 3.7], "holds 3.7; UINT8 takes integers"),
        ("INT32", [1, False], "holds false; INT32 takes integers"),
        ("BOOL", [True, "false"], 'holds "false"; BOOL takes true or false'),
        ("BOOL", [True, 0], "holds 0; BOOL takes true or false"),
        ("FP16", [1, 70000], "out of FP16's range"),
        ("UINT8", [1, 256], "out of UINT8's range"),
    ],
)
def test_values_of_another_json_type_are_refused(datatype: str, data: list[object], fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        parse_infer_request(document(datatype, data), None)


def test_jagged_data_is_named_as_such() -> None:
    with pytest.raises(InvalidInputError, match="jagged"):
        parse_infer_request(document("FP32", [[1, 2], [3]], shape=[3]), None)


@pytest.mark.parametrize("request_id", [{"x": 1}, 7, True, ["a"]])
def test_an_id_that_is_not_a_string_is_refused(request_id: object) -> None:
    body = json.dumps(
        {"id": request_id, "inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]}
    )
    with pytest.raises(InvalidInputError, match="'id' must be a string"):
        parse_infer_request(body.encode(), None)


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        ("FP32", [1, 2.5, -3], np.array([1, 2.5, -3], np.float32)),
        ("FP64", [1e308, -0.0], np.array([1e308, -0.0], np.float64)),
        ("FP16", [65504, 0.5], np.array([65504, 0.5], np.float16)),
        ("INT64", [-(2**63), 2**63 - 1], np.array([-(2**63), 2**63 - 1], np.int64)),
        ("UINT64", [0, 2**64 - 1], np.array([0, 2**64 - 1], np.uint64)),
        ("BOOL", [True, False], np.array([True, False])),
    ],
)
def test_values_of_the_datatypes_own_type_decode_exactly(
    datatype: str, data: list[object], expected: np.ndarray[tuple[int], np.dtype[np.generic]]
) -> None:
    array = parse_infer_request(document(datatype, data), None).inputs["x"]
    assert array.dtype == expected.dtype
    assert array.tobytes() == expected.tobytes()


def test_nan_and_infinity_literals_reach_a_float_tensor() -> None:
    body = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [NaN, -Infinity]}]}'
    array = parse_infer_request(body, None).inputs["x"]
    assert np.isnan(array[0])
    assert array[1] == -np.inf


def test_data_nested_otherwise_than_the_shape_is_read_in_row_major_order() -> None:
    # As Triton does: the values count, not how the client grouped them.
    array = parse_infer_request(document("FP32", [[1, 2], [3, 4]], shape=[1, 4]), None).inputs["x"]
    assert array.tolist() == [[1.0, 2.0, 3.0, 4.0]]
