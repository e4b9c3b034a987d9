"""A canary whose inputs differ from the default version's, over /v2 with tritonclient.http and real
ONNX Runtime sessions: each request is checked against the version that serves it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.api.conftest import Gateway, GatewayFactory
from tests.support.onnx_models import (
    affine_expected,
    affine_model_bytes,
    affine_model_document,
    write_affine_model,
    write_model_file,
    write_model_yaml,
)

ROUTING = {"routing": {"default_version": 1, "canary": {"version": 2, "weight": 1.0}}}


def reshaped_canary(model_repository: Path, make_gateway: GatewayFactory) -> Gateway:
    """``reshaped`` version 1 takes [4] per row; then version 2, its canary for every unpinned
    request, arrives taking [6] per row with the model.yaml edited to match (version 1's reload
    under that model.yaml fails, so it keeps serving as it was)."""
    write_affine_model(model_repository, "reshaped", 1, extra=ROUTING)
    gateway = make_gateway()
    write_model_file(model_repository, "reshaped", 2, affine_model_bytes(dims=(6,), scale=3.0, offset=0.5))
    write_model_yaml(model_repository, "reshaped", affine_model_document(dims=(6,), extra=ROUTING))
    gateway.service.repository.poll()
    assert gateway.service.status("reshaped", 1).inputs[0].shape == (-1, 4)
    assert gateway.service.status("reshaped", 2).inputs[0].shape == (-1, 6)
    return gateway


def infer(gateway: Gateway, rows: np.ndarray, version: str = "") -> triton.InferResult:
    with triton.InferenceServerClient(gateway.url) as client:
        tensor = triton.InferInput("INPUT0", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        return client.infer("reshaped", [tensor], model_version=version)


def test_an_unpinned_request_that_fits_the_canary_is_served_by_it(
    model_repository: Path, make_gateway: GatewayFactory
) -> None:
    gateway = reshaped_canary(model_repository, make_gateway)
    rows = np.arange(12, dtype=np.float32).reshape(2, 6)
    # When a client sends what the canary takes, without a version
    result = infer(gateway, rows)
    # Then the canary answers it (it was refused with a 400 against version 1's inputs)
    assert result.get_response()["model_version"] == "2"
    assert np.array_equal(result.as_numpy("OUTPUT0"), affine_expected(rows, scale=3.0, offset=0.5))


def test_the_default_versions_inputs_pinned_to_it_are_still_served(
    model_repository: Path, make_gateway: GatewayFactory
) -> None:
    gateway = reshaped_canary(model_repository, make_gateway)
    rows = np.arange(4, dtype=np.float32)[np.newaxis]
    assert np.array_equal(infer(gateway, rows, "1").as_numpy("OUTPUT0"), affine_expected(rows))


def test_a_request_the_drawn_version_does_not_take_is_refused_by_it(
    model_repository: Path, make_gateway: GatewayFactory
) -> None:
    gateway = reshaped_canary(model_repository, make_gateway)
    rows = np.arange(4, dtype=np.float32)[np.newaxis]
    # When version 1's inputs are sent without a version, and the canary is drawn (weight 1)
    with pytest.raises(InferenceServerException, match="reshaped:2") as refusal:
        infer(gateway, rows)
    # Then the canary refuses them, by name, as a bad request
    assert refusal.value.status() == "400"


def test_an_output_the_drawn_canary_does_not_give_is_a_bad_request_not_a_server_error(
    model_repository: Path, make_gateway: GatewayFactory
) -> None:
    # Given a canary (every unpinned request) whose output is renamed from version 1's
    write_affine_model(model_repository, "renamed", 1, extra=ROUTING)
    gateway = make_gateway()
    write_model_file(model_repository, "renamed", 2, affine_model_bytes(output_name="SCORES"))
    write_model_yaml(model_repository, "renamed", affine_model_document(output_name="SCORES", extra=ROUTING))
    gateway.service.repository.poll()
    rows = np.arange(4, dtype=np.float32)[np.newaxis]
    # When a client asks for version 1's output without a version
    with triton.InferenceServerClient(gateway.url) as client:
        tensor = triton.InferInput("INPUT0", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        with pytest.raises(InferenceServerException, match="renamed:2 has no output 'OUTPUT0'") as refusal:
            client.infer("renamed", [tensor], outputs=[triton.InferRequestedOutput("OUTPUT0")])
    # Then the version that served it says it has no such output, as a bad request
    assert refusal.value.status() == "400"


def test_a_request_pinned_to_the_default_version_is_checked_against_it_alone(
    model_repository: Path, make_gateway: GatewayFactory
) -> None:
    gateway = reshaped_canary(model_repository, make_gateway)
    rows = np.ones((1, 6), dtype=np.float32)
    # When what the canary takes is sent pinned to version 1
    refused = r"shape \[1, 6\], the model takes \[-1, 4\]"
    with pytest.raises(InferenceServerException, match=refused) as refusal:
        infer(gateway, rows, "1")
    # Then version 1 refuses it: a pinned request never goes to the canary
    assert refusal.value.status() == "400"
