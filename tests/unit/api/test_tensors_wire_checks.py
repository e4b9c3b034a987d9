"""What the v2 codec refuses that numpy would take: BOOL bytes other than 0 and 1, and an output
asked for twice (Triton refuses both with INVALID_ARG)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from gateway.api.tensors import parse_infer_request
from gateway.errors import InvalidInputError
from tests.unit.api.fakes import infer_body


def binary_bool_body(raw: bytes, shape: list[int]) -> tuple[bytes, str]:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "mask",
                    "shape": shape,
                    "datatype": "BOOL",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return header + raw, str(len(header))


@pytest.mark.parametrize("byte", [2, 0x80, 0xFF])
def test_a_binary_bool_byte_other_than_0_or_1_is_refused_naming_the_input(byte: int) -> None:
    # Given a BOOL tensor whose third byte is neither 0 nor 1 (an INT8 buffer sent as BOOL)
    body, length = binary_bool_body(bytes([1, 0, byte, 1]), [1, 4])
    # Then it is refused, naming the input, the byte and its value
    with pytest.raises(InvalidInputError, match=rf"input 'mask': BOOL takes bytes 0 and 1, byte 2 .* {byte}"):
        parse_infer_request(body, length)


def test_binary_bool_bytes_0_and_1_decode_as_false_and_true() -> None:
    body, length = binary_bool_body(bytes([1, 0, 0, 1]), [2, 2])
    mask = parse_infer_request(body, length).inputs["mask"]
    assert mask.dtype == np.bool_
    assert mask.tolist() == [[True, False], [False, True]]


def test_an_empty_binary_bool_tensor_is_taken() -> None:
    body, length = binary_bool_body(b"", [0, 4])
    assert parse_infer_request(body, length).inputs["mask"].shape == (0, 4)


def test_an_output_requested_twice_is_refused_naming_it() -> None:
    document: dict[str, Any] = infer_body([[1.0, 2.0, 3.0, 4.0]])
    document["outputs"] = [{"name": "OUTPUT0"}, {"name": "OUTPUT0", "parameters": {"binary_data": True}}]
    with pytest.raises(InvalidInputError, match="output 'OUTPUT0' is requested twice"):
        parse_infer_request(json.dumps(document).encode(), None)
