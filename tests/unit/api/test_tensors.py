"""The v2 tensor codec alone: every numeric datatype both ways, JSON and binary."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from gateway.api.tensors import InferRequest, RequestedOutput, encode_infer_response, parse_infer_request
from gateway.domain import TensorType
from gateway.errors import InvalidInputError

NUMERIC = [member for member in TensorType if member is not TensorType.BYTES]


def sample(datatype: TensorType) -> npt.NDArray[np.generic]:
    values = np.arange(6).reshape(2, 3)
    return (values % 2 == 0) if datatype is TensorType.BOOL else values.astype(datatype.numpy_dtype)


@pytest.mark.parametrize("datatype", NUMERIC, ids=lambda member: member.value)
def test_binary_and_json_inputs_decode_to_the_same_array(datatype: TensorType) -> None:
    array = sample(datatype)
    raw = array.tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [2, 3],
                    "datatype": datatype.value,
                    "parameters": {"binary_data_size": len(raw)},
                },
                {"name": "b", "shape": [2, 3], "datatype": datatype.value, "data": array.tolist()},
            ]
        }
    ).encode()
    request = parse_infer_request(header + raw, str(len(header)))
    for name in ("a", "b"):
        assert request.inputs[name].dtype == array.dtype
        assert request.inputs[name].tobytes() == raw


@pytest.mark.parametrize("datatype", NUMERIC, ids=lambda member: member.value)
def test_outputs_encode_as_binary_or_json(datatype: TensorType) -> None:
    array = sample(datatype)
    request = InferRequest(
        request_id="7",
        inputs={},
        outputs=(RequestedOutput("bin", True), RequestedOutput("js", False)),
        binary_default=False,
        timeout_s=None,
    )
    response = encode_infer_response(
        model_name="m", model_version=3, request=request, outputs={"bin": array, "js": array.T}
    )
    body, length = response.joined(), response.json_length
    assert length is not None
    assert response.size == len(body)
    header = json.loads(body[:length])
    assert header["id"] == "7"
    assert header["model_version"] == "3"
    binary, js = header["outputs"]
    assert binary["datatype"] == datatype.value
    assert binary["parameters"]["binary_data_size"] == array.nbytes
    assert body[length:] == array.tobytes()
    assert js["shape"] == [3, 2]
    assert np.array_equal(np.asarray(js["data"], dtype=array.dtype).reshape(3, 2), array.T)


def test_all_outputs_follow_binary_data_output_when_none_are_named() -> None:
    request = InferRequest(None, {}, None, binary_default=True, timeout_s=None)
    response = encode_infer_response(
        model_name="m", model_version=1, request=request, outputs={"x": np.zeros((1, 2), np.float32)}
    )
    body, length = response.joined(), response.json_length
    assert length is not None
    assert len(body) - length == 8
    request = InferRequest(None, {}, None, binary_default=False, timeout_s=None)
    response = encode_infer_response(
        model_name="m", model_version=1, request=request, outputs={"x": np.zeros((1, 2), np.float32)}
    )
    assert response.json_length is None
    assert json.loads(response.joined())["outputs"][0]["data"] == [0.0, 0.0]


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"inputs": [{"name": "a", "shape": [-1], "datatype": "FP32", "data": []}]}, "integers from 0 to"),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": ["x"]}]},
            'holds "x"; FP32 takes numbers',
        ),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32"}]}, "neither 'data' nor"),
        ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "needs a 'name'"),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}] * 2}, "given twice"),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}], "parameters": []},
            "parameters",
        ),
        (
            {
                "inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}],
                "parameters": {"timeout": -1},
            },
            "timeout",
        ),
        (
            {
                "inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}],
                "outputs": [{"name": "o", "parameters": {"classification": -3}}],
            },
            "classification",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "a",
                        "shape": [1],
                        "datatype": "FP32",
                        "parameters": {"shared_memory_region": "r"},
                    }
                ]
            },
            "'shared_memory_byte_size' is needed with 'shared_memory_region'",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "a",
                        "shape": [1],
                        "datatype": "FP32",
                        "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 4},
                        "data": [1],
                    }
                ]
            },
            "input 'a' has both shared_memory_region and 'data'",
        ),
        (
            {
                "inputs": [
                    {"name": "a", "shape": [1], "datatype": "FP32", "parameters": {"shared_memory_offset": 4}}
                ]
            },
            "input 'a': 'shared_memory_offset' is given without 'shared_memory_region'",
        ),
        (
            {
                "inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}],
                "outputs": [
                    {
                        "name": "o",
                        "parameters": {
                            "classification": 2,
                            "shared_memory_region": "r",
                            "shared_memory_byte_size": 64,
                        },
                    }
                ],
            },
            "output 'o': a classification cannot be written to shared memory",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "a",
                        "shape": [1],
                        "datatype": "FP32",
                        "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": -4},
                    }
                ]
            },
            "input 'a': 'shared_memory_byte_size' must be a non-negative integer, got -4",
        ),
    ],
)
def test_malformed_documents_name_the_problem(document: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        parse_infer_request(json.dumps(document).encode(), None)
