"""/v2 requests for a model that loads on demand, over real HTTP and real ONNX Runtime: the first
is checked against the version that loads for it, outputs included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from prometheus_client import CollectorRegistry
from tritonclient.utils import InferenceServerException

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, GatewayConfig, HttpConfig
from gateway.inference.service import InferenceService
from tests.support.onnx_models import affine_expected, write_affine_model
from tests.unit.api.harness import ServedApi

ROW = np.arange(4, dtype=np.float32)[np.newaxis]


@pytest.fixture
def on_demand_url(tmp_path: Path) -> Iterator[str]:
    """A gateway on an ``affine`` model that loads on its first request (no camera uses it)."""
    repository = tmp_path / "models"
    write_affine_model(repository, "affine", 1)
    config = GatewayConfig.model_validate(
        {
            "device_id": "test",
            "state_dir": tmp_path / "state",
            "models": {"repository": repository, "preload": "cameras", "poll_interval_s": 60},
            "inference": {"workers": 1, "providers": ["cpu"]},
        }
    )
    registry = CollectorRegistry()
    service = InferenceService.from_config(config, registry)
    service.start()
    try:
        app = create_app(
            http=HttpConfig(port=0),
            admission=AdmissionConfig(rate_per_s=1_000, burst=1_000),
            inference=service,
            cameras=None,
            events=None,
            registry=registry,
            tokens=frozenset(),
        )
        api = ServedApi(app)
        try:
            yield f"127.0.0.1:{api.port}"
        finally:
            api.close()
    finally:
        service.stop()


def infer(url: str, rows: np.ndarray, *outputs: str) -> triton.InferResult:
    tensor = triton.InferInput("INPUT0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    with triton.InferenceServerClient(url) as client:
        return client.infer(
            "affine", [tensor], outputs=[triton.InferRequestedOutput(name) for name in outputs] or None
        )


def test_an_unknown_output_on_the_first_request_is_a_bad_request_naming_it(on_demand_url: str) -> None:
    # When the request that loads the model asks for an output it does not have
    with pytest.raises(InferenceServerException, match="model affine has no output 'NOPE'") as refusal:
        infer(on_demand_url, ROW, "NOPE")
    # Then it is a 400 naming the output (it was a 500), and the model serves what it has
    assert refusal.value.status() == "400"
    assert np.array_equal(infer(on_demand_url, ROW, "OUTPUT0").as_numpy("OUTPUT0"), affine_expected(ROW))


def model_state(url: str) -> str:
    with triton.InferenceServerClient(url) as client:
        state: str = client.get_model_metadata("affine", "1")["state"]
    return state


@pytest.mark.parametrize(
    ("name", "rows", "problem"),
    [
        ("INPUT1", ROW, "model affine has no input 'INPUT1'"),
        (
            "INPUT0",
            np.arange(5, dtype=np.float32)[np.newaxis],
            "input 'INPUT0': shape [1, 5], the model takes [-1, 4]",
        ),
        ("INPUT0", np.zeros((9, 4), dtype=np.float32), "input 'INPUT0': batch of 9, the model takes 1 to 8"),
        ("INPUT0", ROW.astype(np.float64), "input 'INPUT0': datatype FP64, the model takes FP32"),
    ],
)
def test_a_bad_request_is_refused_before_it_costs_a_model_load(
    on_demand_url: str, name: str, rows: np.ndarray, problem: str
) -> None:
    # Given a model that loads on its first request
    assert model_state(on_demand_url) == "unloaded"
    tensor = triton.InferInput(name, list(rows.shape), "FP64" if rows.dtype == np.float64 else "FP32")
    tensor.set_data_from_numpy(rows)
    # When the first request does not fit what its model.yaml declares
    with (
        triton.InferenceServerClient(on_demand_url) as client,
        pytest.raises(InferenceServerException) as refusal,
    ):
        client.infer("affine", [tensor])
    # Then it is a 400 naming the problem, and the model is still not loaded (it was loaded first)
    assert refusal.value.status() == "400"
    assert problem in str(refusal.value.message())
    assert model_state(on_demand_url) == "unloaded"
    # And a good request still loads it and is served
    assert np.array_equal(infer(on_demand_url, ROW).as_numpy("OUTPUT0"), affine_expected(ROW))
    assert model_state(on_demand_url) == "ready"
