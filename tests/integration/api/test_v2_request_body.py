"""The inference request's JSON header as Triton reads it, over real HTTP and real ONNX Runtime: the
``id`` it echoes, and objects that repeat a key (refused, not read as their last value)."""

from __future__ import annotations

import http.client
import json
from typing import Any

import numpy as np
import pytest

from tests.integration.api.conftest import Gateway
from tests.integration.api.raw_requests import WAIT_S, binary_header, post_json
from tests.support.onnx_models import affine_expected

ROW = [0.0, 1.0, 2.0, 3.0]
AFFINE_V1 = "/v2/models/affine/versions/1/infer"


def post_raw(gateway: Gateway, body: bytes) -> tuple[int, Any]:
    return post_json(gateway, AFFINE_V1, body)


def tensor(values: list[float]) -> str:
    return json.dumps({"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": values})


@pytest.mark.parametrize(("request_id", "echoed"), [("", False), ("frame-7", True)])
def test_the_id_is_echoed_only_when_it_is_not_empty(gateway: Gateway, request_id: str, echoed: bool) -> None:
    # When a request carries an id (Triton's HTTP server echoes it only when it is not empty)
    body = json.dumps({"id": request_id, "inputs": [json.loads(tensor(ROW))]}).encode()
    status, answer = post_raw(gateway, body)
    # Then the answer carries it back as Triton's does: an empty one not at all
    assert status == 200, answer
    assert ("id" in answer) is echoed
    if echoed:
        assert answer["id"] == request_id
    assert answer["outputs"][0]["data"] == affine_expected(np.array([ROW], dtype=np.float32)).ravel().tolist()


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (f'{{"inputs": [{tensor([9.0] * 4)}], "inputs": [{tensor(ROW)}]}}', "inputs"),
        (f'{{"id": "a", "id": "b", "inputs": [{tensor(ROW)}]}}', "id"),
        (
            '{"inputs": [{"name": "INPUT0", "name": "INPUT1", "datatype": "FP32", "shape": [1, 4], '
            '"data": [0, 1, 2, 3]}]}',
            "name",
        ),
        (f'{{"inputs": [{tensor(ROW)}], "parameters": {{"timeout": 1, "timeout": 0}}}}', "timeout"),
    ],
)
def test_an_object_that_repeats_a_key_is_a_400_naming_it(gateway: Gateway, body: str, key: str) -> None:
    # When an object in the request repeats a key (Python's decoder keeps the last one silently)
    status, answer = post_raw(gateway, body.encode())
    # Then the request is refused naming the key, rather than served with one of its values dropped
    assert status == 400, answer
    assert f'repeats the key "{key}"' in answer["error"]


def post_with_header_length(gateway: Gateway, body: bytes, header_length: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.api.port, timeout=WAIT_S)
    try:
        headers = {"Content-Type": "application/json", "Inference-Header-Content-Length": header_length}
        connection.request("POST", AFFINE_V1, body, headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_header_length_of_0_says_the_whole_body_is_json(gateway: Gateway) -> None:
    # When a client sends a JSON body with Inference-Header-Content-Length: 0 (Triton reads 0 as "the
    # entire HTTP body should be parsed as json"; it was refused as not fitting the body)
    body = json.dumps({"inputs": [json.loads(tensor(ROW))]}).encode()
    status, answer = post_with_header_length(gateway, body, "0")
    # Then it is served as Triton serves it
    assert status == 200, answer
    assert answer["outputs"][0]["data"] == affine_expected(np.array([ROW], dtype=np.float32)).ravel().tolist()


def test_binary_tensors_behind_a_header_length_of_0_are_a_400(gateway: Gateway) -> None:
    header = binary_header()
    status, answer = post_with_header_length(gateway, header + np.zeros(4, np.float32).tobytes(), "0")
    # The whole body is then the JSON header, and the tensors after it are not JSON
    assert status == 400, answer
    assert "request body is not valid JSON" in answer["error"]
