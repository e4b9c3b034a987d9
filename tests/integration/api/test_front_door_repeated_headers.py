"""A request head that repeats a header the inference handler reads is answered as aiohttp's handler
answers it, whichever server reads the head (the front door, or aiohttp behind a browser's cookie),
over real HTTP and real ONNX Runtime."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping

import numpy as np
import pytest

from tests.integration.api.conftest import Gateway
from tests.integration.api.raw_requests import binary_header
from tests.support.onnx_models import affine_expected

ROW = np.arange(4, dtype=np.float32)
AFFINE_V1 = "/v2/models/affine/versions/1/infer"


def binary_infer(gateway: Gateway, extra: Mapping[str, str]) -> tuple[int, bytes]:
    """A binary request whose Inference-Header-Content-Length is sent twice: the real length, then 2."""
    header = binary_header()
    body = header + ROW.tobytes()
    connection = http.client.HTTPConnection("127.0.0.1", gateway.api.port, timeout=30)
    try:
        connection.putrequest("POST", AFFINE_V1)
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Inference-Header-Content-Length", str(len(header)))
        connection.putheader("Inference-Header-Content-Length", "2")
        for name, value in extra.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("through_aiohttp", [False, True])
def test_a_repeated_header_length_is_read_as_aiohttp_reads_it(
    gateway: Gateway, through_aiohttp: bool
) -> None:
    # When a client repeats Inference-Header-Content-Length (the front door joined the two values and
    # refused them as not an integer, where aiohttp's handler reads the first and serves it, as
    # Triton's does); a cookie sends the head to aiohttp
    status, answer = binary_infer(gateway, {"Cookie": "session=none"} if through_aiohttp else {})
    # Then the answer is the same whichever server read the head
    assert status == 200, answer
    assert json.loads(answer)["outputs"][0]["data"] == affine_expected(ROW[np.newaxis]).ravel().tolist()
