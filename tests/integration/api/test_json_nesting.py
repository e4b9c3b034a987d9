"""Deeply nested JSON bodies against the real app and service: a 400 naming the limit, never a 500."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.api.json_body import MAX_DEPTH
from tests.integration.api.conftest import Gateway

INFER = "/v2/models/affine/infer"


def infer_header(data: object) -> bytes:
    return json.dumps(
        {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": data}]}
    ).encode()


def nested_data(depth: int) -> object:
    data: object = [1.0, 2.0, 3.0, 4.0]
    for _ in range(depth - 1):
        data = [data]
    return data


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * 200_000, f"nests JSON deeper than {MAX_DEPTH} levels"),
        (b'{"inputs":' * 50_000 + b"1" + b"}" * 50_000, f"nests JSON deeper than {MAX_DEPTH} levels"),
        # root object, inputs list, input object: data nested to the limit and one more
        (infer_header(nested_data(MAX_DEPTH - 2)), f"nests JSON {MAX_DEPTH + 1} levels deep"),
    ],
    ids=["brackets", "objects", "one-past-the-limit"],
)
def test_deep_json_is_a_400_naming_the_limit(gateway: Gateway, body: bytes, expected: str) -> None:
    reply = gateway.api.request("POST", INFER, body, {"Content-Type": "application/json"})
    assert reply.status == 400, reply.body
    assert expected in reply.json()["error"]


def test_a_deep_header_before_binary_tensor_data_is_a_400(gateway: Gateway) -> None:
    header = b"[" * 100_000
    raw = np.zeros((1, 4), dtype=np.float32).tobytes()
    reply = gateway.api.request(
        "POST", INFER, header + raw, {"Inference-Header-Content-Length": str(len(header))}
    )
    assert reply.status == 400, reply.body
    assert "nests JSON deeper than" in reply.json()["error"]


def test_data_nested_within_the_limit_is_served(gateway: Gateway) -> None:
    # Given a request nested exactly MAX_DEPTH levels (data in rank MAX_DEPTH - 3 lists, shape [1, 4]
    # flattened), after the deep ones above were refused on the same server
    assert gateway.api.request("POST", INFER, b"[" * 200_000).status == 400
    reply = gateway.api.request("POST", INFER, infer_header(nested_data(MAX_DEPTH - 3)))

    # Then it is answered: affine version 2 (the newest) computes 3x + 0.5
    assert reply.status == 200, reply.body
    (output,) = reply.json()["outputs"]
    assert output["data"] == pytest.approx([3.5, 6.5, 9.5, 12.5])
