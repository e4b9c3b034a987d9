"""The API on uvloop (the loop ``serve`` picks when it is installed): tritonclient's binary and JSON
infer answer bit for bit as on asyncio's loop, and overload is still answered 503 with Retry-After,
with and without ``Expect: 100-continue``."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
import pytest
import tritonclient.http as triton

from gateway.config import AdmissionConfig
from tests.integration.api.conftest import Gateway, GatewayFactory
from tests.integration.api.test_overload import check, hammer

uvloop = pytest.importorskip("uvloop")
Array = npt.NDArray[np.float32]


@pytest.fixture
def gateways(make_gateway: GatewayFactory) -> tuple[Gateway, Gateway]:
    return make_gateway(), make_gateway(loop_factory=uvloop.new_event_loop)


def infer(gateway: Gateway, array: Array, *, binary: bool) -> Array:
    client = triton.InferenceServerClient(gateway.url, connection_timeout=10, network_timeout=30)
    try:
        tensor = triton.InferInput("INPUT0", list(array.shape), "FP32")
        tensor.set_data_from_numpy(array, binary_data=binary)
        outputs = [triton.InferRequestedOutput("OUTPUT0", binary_data=binary)]
        result = client.infer("affine", [tensor], model_version="1", outputs=outputs)
        answer: Array | None = result.as_numpy("OUTPUT0")
        assert answer is not None
        return answer
    finally:
        client.close()


@pytest.mark.parametrize("binary", [True, False])
def test_infer_on_uvloop_answers_as_on_asyncio(gateways: tuple[Gateway, Gateway], binary: bool) -> None:
    on_asyncio, on_uvloop = gateways
    array = np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32)
    expected = infer(on_asyncio, array, binary=binary)
    np.testing.assert_array_equal(infer(on_uvloop, array, binary=binary), expected)
    np.testing.assert_allclose(expected, 2.0 * array + 1.0, rtol=1e-6)


@pytest.mark.parametrize("expect_continue", [False, True])
def test_overload_on_uvloop_answers_503_with_retry_after(
    make_gateway: GatewayFactory, expect_continue: bool
) -> None:
    gateway = make_gateway(
        inference={"workers": 1, "queue_capacity": 16, "max_batch_size": 4},
        admission=AdmissionConfig(rate_per_s=100_000, burst=100_000, high_watermark=0.5),
        loop_factory=uvloop.new_event_loop,
    )
    headers = {"Expect": "100-continue"} if expect_continue else {}
    outcomes = asyncio.run(hammer(gateway.api.port, clients=48, requests_each=4, headers=headers))
    statuses = check(outcomes, {503})
    assert statuses[200] > 0, statuses
    assert statuses[503] > 0, statuses
