"""Triton's request parameters over /v2 with tritonclient.http and real ONNX Runtime sessions."""

from __future__ import annotations

import numpy as np
import tritonclient.http as triton

from tests.integration.api.conftest import Gateway
from tests.support.onnx_models import affine_expected

ROW = np.arange(4, dtype=np.float32)[np.newaxis]


def affine_input() -> triton.InferInput:
    tensor = triton.InferInput("INPUT0", list(ROW.shape), "FP32")
    tensor.set_data_from_numpy(ROW)
    return tensor


def test_a_timeout_of_0_is_no_timeout_as_in_triton(gateway: Gateway) -> None:
    with triton.InferenceServerClient(gateway.url) as client:
        # When a client sends Triton's default timeout, 0 (it was answered 504 at once)
        result = client.infer("affine", [affine_input()], model_version="1", timeout=0)
    # Then the request is served
    assert np.array_equal(result.as_numpy("OUTPUT0"), affine_expected(ROW))
