from __future__ import annotations

import numpy as np
import pytest

from gateway.api.tensors import HEADER_LENGTH, encode_binary_request, parse_infer_request
from gateway.errors import InferenceError


def test_a_binary_request_parses_back_to_the_same_tensors() -> None:
    frames = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    scores = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    body, headers = encode_binary_request({"frame": frames, "scores": scores})
    request = parse_infer_request(body, headers[HEADER_LENGTH])
    assert list(request.inputs) == ["frame", "scores"]
    assert np.array_equal(request.inputs["frame"], frames)
    assert request.inputs["frame"].dtype == np.uint8
    assert np.array_equal(request.inputs["scores"], scores)
    assert request.binary_default


def test_a_non_contiguous_array_is_sent_in_its_logical_order() -> None:
    transposed = np.arange(12, dtype=np.float32).reshape(3, 4).T
    body, headers = encode_binary_request({"x": transposed})
    assert np.array_equal(parse_infer_request(body, headers[HEADER_LENGTH]).inputs["x"], transposed)


def test_a_dtype_without_a_v2_datatype_is_refused() -> None:
    with pytest.raises(InferenceError, match="tensor 'x': numpy dtype complex64 has no v2 datatype"):
        encode_binary_request({"x": np.zeros(2, np.complex64)})


@pytest.mark.parametrize("offset", [-10, 3])
def test_a_header_length_that_cuts_the_json_is_blamed_by_name(offset: int) -> None:
    # Given a valid binary request whose Inference-Header-Content-Length is off: short of the
    # JSON's end, or past it into the tensor bytes
    body, headers = encode_binary_request({"x": np.full(4, 255, np.uint8)})
    length = int(headers[HEADER_LENGTH]) + offset
    # Then the error names the header length, not only the JSON it cut
    with pytest.raises(InferenceError, match=f"first {length} bytes, as {HEADER_LENGTH} says"):
        parse_infer_request(body, str(length))


def test_a_header_length_of_more_digits_than_any_body_says_it_does_not_fit() -> None:
    # It once said the 20 digits were not an integer
    body, _ = encode_binary_request({"x": np.full(4, 255, np.uint8)})
    with pytest.raises(InferenceError, match=f"{HEADER_LENGTH} 12345678901234567890 does not fit a body of"):
        parse_infer_request(body, "12345678901234567890")
    with pytest.raises(InferenceError, match=f"{HEADER_LENGTH} must be an integer, got '1e3'"):
        parse_infer_request(body, "1e3")
