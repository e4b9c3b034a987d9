"""Triton's classification extension over /v2, with tritonclient.http, real HTTP and real ONNX
Runtime: an output asked for with ``class_count`` k is answered as a BYTES tensor of shape
``[batch, k]`` whose elements read ``"<value>:<index>[:<label>]"`` (Triton's
docs/protocol/extension_classification.md), the labels from the model's model.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.api.conftest import Gateway, GatewayFactory
from tests.support.onnx_models import affine_model_document, write_affine_model, write_model_yaml

ROWS = np.array([[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]], dtype=np.float32)
"""Through ``2x + 1``: [1, 3, 5, 7] and [7, 5, 3, 1]."""


@pytest.fixture
def gateway(model_repository: Path, make_gateway: GatewayFactory) -> Gateway:
    # A raw-tensor model whose model.yaml names the classes of its output, one index left unnamed
    write_affine_model(
        model_repository, "classes", extra={"postprocess": {"kind": "none", "labels": ["cat", "dog", "bird"]}}
    )
    write_affine_model(model_repository, "half", datatype="FP16")
    return make_gateway()


def classify(
    gateway: Gateway, model: str, rows: np.ndarray, count: int, *, binary: bool = True
) -> np.ndarray:
    datatype = "FP16" if rows.dtype == np.float16 else "FP32"
    tensor = triton.InferInput("INPUT0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows)
    output = triton.InferRequestedOutput("OUTPUT0", binary_data=binary, class_count=count)
    with triton.InferenceServerClient(gateway.url) as client:
        result = client.infer(model, [tensor], model_version="1", outputs=[output])
    assert result.get_output("OUTPUT0")["datatype"] == "BYTES"
    classes = result.as_numpy("OUTPUT0")
    assert classes is not None
    texts: np.ndarray = np.vectorize(lambda value: value.decode() if isinstance(value, bytes) else value)(
        classes
    )
    return texts


@pytest.mark.parametrize("binary", [True, False])
def test_the_top_classes_of_each_row_are_value_and_index(gateway: Gateway, binary: bool) -> None:
    # When a client asks for the top 2 classes of a model without labels, in binary or JSON
    classes = classify(gateway, "affine", ROWS, 2, binary=binary)
    # Then each row answers its two highest values, highest first, as "value:index" (C++'s %f)
    assert classes.tolist() == [["7.000000:3", "5.000000:2"], ["7.000000:0", "5.000000:1"]]


def test_the_labels_of_the_model_follow_the_index(gateway: Gateway) -> None:
    classes = classify(gateway, "classes", ROWS[:1], 3)
    # Index 3 has no label: as Triton, its string has none
    assert classes.tolist() == [["7.000000:3", "5.000000:2:bird", "3.000000:1:dog"]]


def test_the_labels_are_those_of_the_version_that_served_not_of_a_model_yaml_that_failed(
    gateway: Gateway,
) -> None:
    # Given a model.yaml rewritten with other labels and an output its file does not give
    write_model_yaml(
        gateway.repository,
        "classes",
        affine_model_document(
            dims=(16,),
            extra={"postprocess": {"kind": "none", "labels": [f"new{index}" for index in range(16)]}},
        ),
    )
    # When the repository's next pass reloads it, and the reload fails as it should
    gateway.service.repository.poll()
    assert gateway.service.status("classes", 1).outputs[0].shape == (-1, 4)
    # Then the version that still serves names its classes by the model.yaml it was loaded with
    classes = classify(gateway, "classes", ROWS[:1], 2)
    assert classes.tolist() == [["7.000000:3", "5.000000:2:bird"]]


def test_a_count_above_the_classes_answers_every_class(gateway: Gateway) -> None:
    classes = classify(gateway, "affine", ROWS[:1], 10)
    assert classes.shape == (1, 4)
    assert classes.tolist() == [["7.000000:3", "5.000000:2", "3.000000:1", "1.000000:0"]]


def test_a_json_request_gets_the_classes_as_json_strings(gateway: Gateway) -> None:
    # JSON in and out, as a client without tritonclient writes it
    document = {
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": ROWS[0].tolist()}],
        "outputs": [{"name": "OUTPUT0", "parameters": {"classification": 1}}],
    }
    reply = gateway.api.post_json("/v2/models/affine/versions/1/infer", document)
    body = reply.json()
    assert reply.status == 200, body
    assert body["outputs"] == [
        {"name": "OUTPUT0", "datatype": "BYTES", "shape": [1, 1], "data": ["7.000000:3"]}
    ]


def test_an_output_triton_cannot_rank_is_a_400_naming_it(gateway: Gateway) -> None:
    with pytest.raises(InferenceServerException) as refusal:
        classify(gateway, "half", ROWS.astype(np.float16), 2)
    assert refusal.value.status() == "400"
    assert "output 'OUTPUT0': classification is not available" in str(refusal.value.message())


def test_the_server_lists_the_classification_extension(gateway: Gateway) -> None:
    with triton.InferenceServerClient(gateway.url) as client:
        assert "classification" in client.get_server_metadata()["extensions"]
    assert json.loads(gateway.api.get("/v2").body)["extensions"].count("classification") == 1
