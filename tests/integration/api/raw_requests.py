"""Requests the tests of this folder make with ``http.client`` rather than ``tritonclient``, where
they need a body or a head that a client library would not send."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.integration.api.conftest import Gateway

WAIT_S = 30.0


def post_json(gateway: Gateway, path: str, body: bytes) -> tuple[int, Any]:
    """POST ``body`` as JSON: the answer's status and its JSON."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.api.port, timeout=WAIT_S)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def binary_header(name: str = "INPUT0", shape: tuple[int, ...] = (1, 4)) -> bytes:
    """The JSON header of a request whose one FP32 tensor follows it as binary data."""
    size = 4
    for extent in shape:
        size *= extent
    tensor = {
        "name": name,
        "datatype": "FP32",
        "shape": list(shape),
        "parameters": {"binary_data_size": size},
    }
    return json.dumps({"inputs": [tensor]}).encode()
