"""Open Inference Protocol v2 over real HTTP against the fake backend: happy paths and every
malformed request the issue lists, each answered with a 4xx JSON body naming the problem."""

from __future__ import annotations

import gzip
import http.client
import json
import zlib

import numpy as np
import pytest

from gateway.config import HttpConfig
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeBackend, binary_infer_request, infer_body, split_binary_response
from tests.unit.api.harness import ServedApi

INFER = "/v2/models/affine/infer"


def test_server_metadata_and_health(api: ServedApi) -> None:
    metadata = api.get("/v2").json()
    assert metadata["name"] == "edge-gateway"
    assert "binary_tensor_data" in metadata["extensions"]
    assert api.get("/v2/health/live").status == 200
    assert api.get("/v2/health/ready").status == 200


def test_not_ready_server_says_so(api: ServedApi, backend: FakeBackend) -> None:
    backend.is_ready = False
    reply = api.get("/v2/health/ready")
    assert reply.status == 503
    assert "not ready" in reply.json()["error"]


def test_model_metadata_lists_versions_and_tensors(api: ServedApi) -> None:
    metadata = api.get("/v2/models/affine").json()
    assert metadata["name"] == "affine"
    assert metadata["versions"] == ["1", "2", "3"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["outputs"] == [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["state"] == "ready"


def test_unversioned_metadata_says_where_requests_go(api: ServedApi) -> None:
    assert api.get("/v2/models/affine").json()["routing"] == {
        "default_version": None,
        "canary": {"version": 2, "share": 0.25},
    }
    assert "routing" not in api.get("/v2/models/affine/versions/1").json()


def test_failed_version_metadata_carries_state_and_reason(api: ServedApi) -> None:
    metadata = api.get("/v2/models/affine/versions/3").json()
    assert metadata["state"] == "failed"
    assert "protobuf" in metadata["reason"]
    ready = api.get("/v2/models/affine/versions/3/ready")
    assert ready.status == 503
    assert "failed" in ready.json()["error"]
    assert api.get("/v2/models/affine/versions/1/ready").status == 200


def test_config_and_repository_index(api: ServedApi) -> None:
    config = api.get("/v2/models/affine/config").json()
    assert config["max_batch_size"] == 8
    assert config["input"] == [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}]
    index = api.request("POST", "/v2/repository/index", b"").json()
    assert {
        "name": "affine",
        "version": "3",
        "state": "UNAVAILABLE",
        "reason": "model.onnx: protobuf parsing failed",
    } in index


def test_json_infer_round_trip(api: ServedApi) -> None:
    reply = api.post_json(INFER, {"id": "r1", **infer_body([[1, 2, 3, 4]])})
    assert reply.status == 200, reply.body
    assert "Inference-Header-Content-Length" not in reply.headers
    result = reply.json()
    assert result["id"] == "r1"
    assert result["model_name"] == "affine"
    assert result["model_version"] == "2"
    assert result["outputs"] == [
        {"name": "OUTPUT0", "datatype": "FP32", "shape": [1, 4], "data": [3, 5, 7, 9]}
    ]


def test_binary_infer_round_trip_is_bit_exact(api: ServedApi) -> None:
    array = np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32)
    body, headers = binary_infer_request(array)
    reply = api.request("POST", "/v2/models/affine/versions/1/infer", body, headers)
    assert reply.status == 200, reply.body
    header, data = split_binary_response(reply.body, int(reply.headers["Inference-Header-Content-Length"]))
    (output,) = header["outputs"]
    assert output["parameters"]["binary_data_size"] == len(data) == array.nbytes
    got = np.frombuffer(data, dtype=np.float32).reshape(output["shape"])
    assert got.tobytes() == (array * np.float32(2) + np.float32(1)).tobytes()
    assert header["model_version"] == "1"


def test_outputs_requested_by_name_choose_json_or_binary(api: ServedApi) -> None:
    array = np.ones((1, 4), dtype=np.float32)
    body, headers = binary_infer_request(
        array, outputs=[{"name": "OUTPUT0", "parameters": {"binary_data": False}}]
    )
    reply = api.request("POST", INFER, body, headers)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0]["data"] == [3, 3, 3, 3]


@pytest.mark.parametrize(
    ("body", "headers", "fragment"),
    [
        (b"{not json", {}, "not valid JSON"),
        (b"[1, 2]", {}, "JSON object"),
        (json.dumps({"inputs": []}).encode(), {}, "non-empty list"),
        (json.dumps(infer_body([[1, 2, 3]])).encode(), {}, "shape [1, 3]"),
        (json.dumps(infer_body([[1, 2, 3, 4]], datatype="INT32")).encode(), {}, "datatype INT32"),
        (json.dumps(infer_body([[1, 2, 3, 4]], datatype="FP99")).encode(), {}, "unknown datatype"),
        (json.dumps(infer_body([[1, 2, 3, 4]], datatype="BYTES")).encode(), {}, "BYTES"),
        (json.dumps(infer_body([[1, 2, 3, 4]], name="WRONG")).encode(), {}, "no input 'WRONG'"),
        (json.dumps(infer_body([[1.0] * 4] * 9)).encode(), {}, "batch of 9"),
        (
            json.dumps(
                {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [1, 2]}]}
            ).encode(),
            {},
            "do not fill",
        ),
        (
            json.dumps({**infer_body([[1, 2, 3, 4]]), "outputs": [{"name": "NOPE"}]}).encode(),
            {},
            "no output 'NOPE'",
        ),
        (
            json.dumps(
                {"inputs": [{"name": "INPUT0", "shape": [1] * 33, "datatype": "FP32", "data": [1]}]}
            ).encode(),
            {},
            "33 dimensions, at most 32",
        ),
        (
            json.dumps(
                {"inputs": [{"name": "INPUT0", "shape": [0, 10**30], "datatype": "FP32", "data": []}]}
            ).encode(),
            {},
            "integers from 0 to 2147483647",
        ),
        (
            json.dumps(
                {
                    "inputs": [
                        {"name": "INPUT0", "shape": [0] + [2**31 - 1] * 31, "datatype": "FP32", "data": []}
                    ]
                }
            ).encode(),
            {},
            "cannot be built",
        ),
        (
            json.dumps(
                {**infer_body([[1, 2, 3, 4]]), "parameters": {"binary_data_output": "false"}}
            ).encode(),
            {},
            "'binary_data_output' parameter must be true or false",
        ),
        (b"{}", {"Inference-Header-Content-Length": "999"}, "does not fit"),
        (b"{}", {"Inference-Header-Content-Length": "two"}, "must be an integer"),
        # "\xc2\xb2" goes out as the UTF-8 of "²", which str.isdigit() takes and int() refuses.
        (b"{}", {"Inference-Header-Content-Length": "\xc2\xb2"}, "must be an integer"),
        (b"{}", {"Inference-Header-Content-Length": "9" * 5000}, "does not fit a body"),
    ],
)
def test_malformed_requests_get_400_json(
    api: ServedApi, backend: FakeBackend, body: bytes, headers: dict[str, str], fragment: str
) -> None:
    reply = api.request("POST", INFER, body, {"Content-Type": "application/json", **headers})
    assert reply.status == 400, reply.body
    assert fragment in reply.json()["error"]
    assert backend.calls == 0


def test_a_timeout_beyond_64_bits_is_read_as_the_longest(api: ServedApi) -> None:
    # JSON integers have no length limit; this one once overflowed a float (a 500).
    body = {**infer_body([[1, 2, 3, 4]]), "parameters": {"timeout": 10**400}}
    reply = api.post_json(INFER, body)
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_decoded_json_and_binary(api: ServedApi, encoding: str) -> None:
    # The body's Content-Length is the compressed one: it once sized the buffer (a 500).
    def compressed(data: bytes) -> bytes:
        return gzip.compress(data) if encoding == "gzip" else zlib.compress(data)

    reply = api.request(
        "POST",
        INFER,
        compressed(json.dumps(infer_body([[1, 2, 3, 4]])).encode()),
        {"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0]["data"] == [3, 5, 7, 9]
    body, headers = binary_infer_request(np.ones((1, 4), dtype=np.float32))
    reply = api.request("POST", INFER, compressed(body), {**headers, "Content-Encoding": encoding})
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    ("encoding", "body", "status", "fragment"),
    [
        ("gzip", b"not gzip at all", 400, "could not be read as gzip"),
        ("br2", b"{}", 415, "Content-Encoding 'br2' is not taken"),
    ],
)
def test_a_body_that_cannot_be_decoded_is_named(
    api: ServedApi, encoding: str, body: bytes, status: int, fragment: str
) -> None:
    reply = api.request(
        "POST", INFER, body, {"Content-Type": "application/json", "Content-Encoding": encoding}
    )
    assert reply.status == status, reply.body
    assert fragment in reply.json()["error"]


def test_binary_byte_length_must_match_the_shape(api: ServedApi) -> None:
    array = np.ones((1, 4), dtype=np.float32)
    body, headers = binary_infer_request(array)
    reply = api.request("POST", INFER, body[:-4], headers)
    assert reply.status == 400
    assert "runs past the end" in reply.json()["error"]
    reply = api.request("POST", INFER, body + b"\x00" * 4, headers)
    assert reply.status == 400
    assert "binary tensor data" in reply.json()["error"]
    lying = body.replace(b'"binary_data_size": 16', b'"binary_data_size": 12')
    reply = api.request(
        "POST", INFER, lying, {**headers, "Inference-Header-Content-Length": str(len(lying) - 16)}
    )
    assert reply.status == 400
    assert "does not match shape" in reply.json()["error"]


def test_unknown_model_or_version_is_404_and_bad_version_400(api: ServedApi) -> None:
    body = infer_body([[1, 2, 3, 4]])
    reply = api.post_json("/v2/models/nope/infer", body)
    assert reply.status == 404
    assert "nope" in reply.json()["error"]
    reply = api.post_json("/v2/models/affine/versions/9/infer", body)
    assert reply.status == 404
    assert "version 9" in reply.json()["error"]
    for version in ("latest", "%C2%B2", "9" * 5000):
        reply = api.post_json(f"/v2/models/affine/versions/{version}/infer", body)
        assert reply.status == 400
        assert "positive integer" in reply.json()["error"]


def test_not_ready_version_is_503_with_retry_after(api: ServedApi) -> None:
    reply = api.post_json("/v2/models/affine/versions/3/infer", infer_body([[1, 2, 3, 4]]))
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"
    assert "failed" in reply.json()["error"]


def test_huge_body_is_413_json(make_api: ApiFactory) -> None:
    api = make_api(http=HttpConfig(max_body_bytes=1024))
    reply = api.request("POST", INFER, b"x" * 4096, {"Content-Type": "application/json"})
    assert reply.status == 413
    assert "1024" in reply.json()["error"]


def test_unknown_route_and_wrong_method_are_json(api: ServedApi) -> None:
    reply = api.get("/v3/nothing")
    assert reply.status == 404
    assert "error" in reply.json()
    reply = api.get(INFER)
    assert reply.status == 405
    assert "error" in reply.json()
    assert "POST" in reply.headers["Allow"]


def test_unexpected_backend_failure_is_500_json_and_the_server_keeps_serving(
    api: ServedApi, backend: FakeBackend
) -> None:
    backend.submit_error = RuntimeError("boom")
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    assert reply.status == 500
    assert "RuntimeError" in reply.json()["error"]
    backend.submit_error = None
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200


def test_chunked_body_without_content_length_is_read_too(api: ServedApi) -> None:
    array = np.arange(8, dtype=np.float32).reshape(2, 4)
    body, headers = binary_infer_request(array)
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        pieces = (body[start : start + 7] for start in range(0, len(body), 7))
        connection.request("POST", INFER, body=pieces, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        status, reply_headers, data = response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
    assert status == 200, data
    header, tensor = split_binary_response(data, int(reply_headers["Inference-Header-Content-Length"]))
    assert header["outputs"][0]["shape"] == [2, 4]
    assert tensor == (array * np.float32(2) + np.float32(1)).tobytes()
