"""``inference.max_batch_size`` below a model's own, over /v2 with tritonclient.http and real ONNX
Runtime: the model configuration says the batch size a request may carry, and that size is served."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.api.conftest import GatewayFactory
from tests.support.onnx_models import affine_expected


def affine_input(rows: int) -> tuple[triton.InferInput, np.ndarray]:
    array = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
    tensor = triton.InferInput("INPUT0", list(array.shape), "FP32")
    tensor.set_data_from_numpy(array)
    return tensor, array


def test_the_model_configuration_says_the_batch_size_the_gateway_takes(make_gateway: GatewayFactory) -> None:
    # Given a gateway that takes 4 rows a request, serving a model whose model.yaml says 8
    gateway = make_gateway(inference={"max_batch_size": 4})
    with triton.InferenceServerClient(gateway.url) as client:
        # When a client reads the model's configuration (it said 8, and a request of 8 got a 400)
        limit = client.get_model_config("affine", "1")["max_batch_size"]
        assert limit == 4
        # Then a request of that size is served and one past it is refused naming the limit
        tensor, array = affine_input(limit)
        assert np.array_equal(
            client.infer("affine", [tensor], "1").as_numpy("OUTPUT0"), affine_expected(array)
        )
        tensor, _ = affine_input(limit + 1)
        with pytest.raises(InferenceServerException, match="the model takes 1 to 4") as refusal:
            client.infer("affine", [tensor], "1")
    assert refusal.value.status() == "400"
