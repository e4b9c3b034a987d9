"""Zero-element tensors over /v2 with tritonclient.http and real ONNX Runtime: a model with a
dynamic dimension takes rows of width 0 and answers them, in binary or JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton

from tests.integration.api.conftest import GatewayFactory
from tests.support.onnx_models import (
    affine_model_bytes,
    affine_model_document,
    write_model_file,
    write_model_yaml,
)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_an_empty_output_is_answered_in_binary_and_json(
    model_repository: Path, make_gateway: GatewayFactory, binary: bool
) -> None:
    # Given a model whose rows have a dynamic width
    write_model_yaml(model_repository, "dynamic", affine_model_document(dims=(-1,)))
    write_model_file(model_repository, "dynamic", 1, affine_model_bytes(dims=("width",)))
    gateway = make_gateway()
    rows = np.zeros((3, 0), dtype=np.float32)
    tensor = triton.InferInput("INPUT0", [3, 0], "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    # When three rows of width 0 are sent, and their output asked for
    with triton.InferenceServerClient(gateway.url) as client:
        result = client.infer(
            "dynamic", [tensor], outputs=[triton.InferRequestedOutput("OUTPUT0", binary_data=binary)]
        )
    # Then the answer is an empty [3, 0] tensor (in binary it was a 500: memoryview refused the cast)
    output = result.as_numpy("OUTPUT0")
    assert output is not None
    assert output.shape == (3, 0)
    assert output.dtype == np.float32
