"""``tritonclient.http``, unchanged, against the real server (InferenceService on real ONNX models).

Outputs are compared bit for bit with an in-process ONNX Runtime session on the same model file.
tritonclient's HTTP client runs on gevent; its calls are made from the test's own thread (gevent's
hub lives there) while the server's event loop runs in another, and it raises no warnings under
``filterwarnings = error`` (this module would fail if it did).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.api.conftest import Gateway
from tests.support.onnx_models import write_affine_model


@pytest.fixture
def client(gateway: Gateway) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(gateway.url, connection_timeout=10, network_timeout=30)
    yield client
    client.close()


def onnxruntime_reference(model_file: Path, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    (output,) = session.run(["OUTPUT0"], {"INPUT0": array})
    result: npt.NDArray[Any] = output
    return result


def test_server_and_model_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "edge-gateway"
    metadata = client.get_model_metadata("affine")
    assert metadata["versions"] == ["1", "2"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}]
    assert client.is_model_ready("affine")
    assert client.is_model_ready("affine", "1")
    assert client.get_model_config("affine")["max_batch_size"] == 8
    index = {(entry["name"], entry["version"]): entry for entry in client.get_model_repository_index()}
    assert index[("affine", "2")]["state"] == "READY"
    assert index[("broken", "1")]["state"] == "UNAVAILABLE"


def test_broken_model_is_not_ready_with_its_reason(client: triton.InferenceServerClient) -> None:
    assert not client.is_model_ready("broken")
    metadata = client.get_model_metadata("broken")
    assert metadata["state"] == "failed"
    assert metadata["reason"]
    with pytest.raises(InferenceServerException) as raised:
        client.infer("broken", [_input(np.ones((1, 4), dtype=np.float32), binary=True)])
    assert raised.value.status() == "503"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("version", ["1", "2"])
def test_infer_matches_in_process_onnxruntime_bit_for_bit(
    client: triton.InferenceServerClient, gateway: Gateway, binary: bool, version: str
) -> None:
    array = np.random.default_rng(11).standard_normal((5, 4)).astype(np.float32)
    outputs = [triton.InferRequestedOutput("OUTPUT0", binary_data=binary)]
    result = client.infer("affine", [_input(array, binary=binary)], model_version=version, outputs=outputs)
    got = result.as_numpy("OUTPUT0")
    expected = onnxruntime_reference(gateway.repository / "affine" / version / "model.onnx", array)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
    assert result.get_response()["model_version"] == version


def test_unpinned_infer_uses_the_latest_version_and_returns_all_outputs_binary(
    client: triton.InferenceServerClient, gateway: Gateway
) -> None:
    array = np.random.default_rng(5).standard_normal((8, 4)).astype(np.float32)
    result = client.infer("affine", [_input(array, binary=True)])
    response = result.get_response()
    assert response["model_version"] == "2"
    assert response["outputs"][0]["parameters"]["binary_data_size"] == array.nbytes
    expected = onnxruntime_reference(gateway.repository / "affine" / "2" / "model.onnx", array)
    assert result.as_numpy("OUTPUT0").tobytes() == expected.tobytes()


def test_slow_model_matches_onnxruntime(client: triton.InferenceServerClient, gateway: Gateway) -> None:
    array = np.random.default_rng(2).standard_normal((4, 256)).astype(np.float32)
    result = client.infer("slow", [_input(array, binary=True)])
    expected = onnxruntime_reference(gateway.repository / "slow" / "1" / "model.onnx", array)
    assert result.as_numpy("OUTPUT0").tobytes() == expected.tobytes()


def test_client_errors_surface_as_4xx(client: triton.InferenceServerClient) -> None:
    cases: list[tuple[str, list[triton.InferInput], str, str]] = [
        ("affine", [_input(np.ones((1, 3), dtype=np.float32), binary=True)], "400", "shape"),
        ("affine", [_input(np.ones((1, 4), dtype=np.float64), binary=True)], "400", "FP64"),
        ("affine", [_input(np.ones((9, 4), dtype=np.float32), binary=False)], "400", "batch"),
        ("ghost", [_input(np.ones((1, 4), dtype=np.float32), binary=True)], "404", "ghost"),
    ]
    for model, inputs, status, fragment in cases:
        with pytest.raises(InferenceServerException) as raised:
            client.infer(model, inputs)
        assert raised.value.status() == status, raised.value
        assert fragment in raised.value.message(), raised.value
    with pytest.raises(InferenceServerException) as raised:
        client.infer("affine", [_input(np.ones((1, 4), dtype=np.float32), binary=True)], model_version="7")
    assert raised.value.status() == "404"


def _input(array: npt.NDArray[Any], *, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("INPUT0", list(array.shape), _datatype(array))
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def _datatype(array: npt.NDArray[Any]) -> str:
    return {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64"}[array.dtype]


def test_a_model_with_no_routable_version_lists_only_real_versions(
    client: triton.InferenceServerClient, gateway: Gateway
) -> None:
    # Given a model whose routing.default_version names a version not in the repository
    write_affine_model(gateway.repository, "pinned", extra={"routing": {"default_version": 3}})
    gateway.service.repository.poll()
    # Then its metadata lists the version it has, not a version 0 it does not have
    metadata = client.get_model_metadata("pinned")
    assert metadata["versions"] == ["1"]
    assert "default_version 3" in metadata["reason"]
    assert client.get_model_config("pinned")["version_policy"] == {"specific": {"versions": []}}
    assert client.is_model_ready("pinned", "1")
    assert not client.is_model_ready("pinned")
    reply = gateway.api.get("/v2/models/pinned/ready")
    assert reply.status == 503
    assert reply.json() == {
        "error": "model 'pinned' is failed: model 'pinned': default_version 3 is not in the repository"
    }
