"""Triton's statistics extension (``GET /v2/models[/{name}[/versions/{v}]]/stats``) read by
``tritonclient.http``, unchanged, after real requests to the real server (InferenceService on real
ONNX models): what perf_analyzer and Triton dashboards read to split a request's time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.api.conftest import Gateway

STEPS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


@pytest.fixture
def client(gateway: Gateway) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(gateway.url, connection_timeout=10, network_timeout=30)
    yield client
    client.close()


def infer(client: triton.InferenceServerClient, rows: int, version: str = "") -> None:
    tensor = triton.InferInput("INPUT0", [rows, 4], "FP32")
    tensor.set_data_from_numpy(np.ones((rows, 4), dtype=np.float32), binary_data=True)
    client.infer("affine", [tensor], model_version=version)


def only(statistics: dict[str, Any], name: str, version: str) -> Any:
    (figures,) = [
        entry for entry in statistics["model_stats"] if (entry["name"], entry["version"]) == (name, version)
    ]
    return figures


def test_each_request_is_counted_with_its_rows_and_steps(client: triton.InferenceServerClient) -> None:
    # Given three requests of 1, 2 and 3 rows to version 1
    for rows in (1, 2, 3):
        infer(client, rows, version="1")

    # When the statistics of that version are read
    statistics = client.get_inference_statistics("affine", "1")

    # Then it is the only entry, with every request and row, and each step counted per request
    assert [(entry["name"], entry["version"]) for entry in statistics["model_stats"]] == [("affine", "1")]
    figures = statistics["model_stats"][0]
    assert figures["inference_count"] == 6
    assert 1 <= figures["execution_count"] <= 3
    steps = figures["inference_stats"]
    assert {step: steps[step]["count"] for step in STEPS} == {
        "success": 3,
        "fail": 0,
        "queue": 3,
        "compute_input": 3,
        "compute_infer": 3,
        "compute_output": 3,
    }
    assert steps["success"]["ns"] >= steps["compute_infer"]["ns"] > 0
    assert steps["cache_hit"] == steps["cache_miss"] == {"count": 0, "ns": 0}
    batches = figures["batch_stats"]
    assert sum(batch["compute_infer"]["count"] for batch in batches) == figures["execution_count"]
    assert sum(batch["batch_size"] * batch["compute_infer"]["count"] for batch in batches) == 6
    assert figures["last_inference"] > 1_600_000_000_000, "milliseconds since the epoch"


def test_a_model_without_a_version_lists_every_version_and_none_lists_every_model(
    client: triton.InferenceServerClient,
) -> None:
    infer(client, 2)  # routed to the highest version, 2

    versions = client.get_inference_statistics("affine")["model_stats"]
    everything = client.get_inference_statistics()["model_stats"]

    assert [entry["version"] for entry in versions] == ["1", "2"]
    assert only({"model_stats": versions}, "affine", "2")["inference_count"] == 2
    assert only({"model_stats": versions}, "affine", "1")["inference_count"] == 0
    assert {entry["name"] for entry in everything} >= {"affine", "broken", "slow", "detector"}
    assert only({"model_stats": everything}, "affine", "2")["inference_count"] == 2


def test_an_unknown_model_or_version_is_named(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="unknown model 'nothing'") as unknown:
        client.get_inference_statistics("nothing")
    assert unknown.value.status() == "404"
    with pytest.raises(InferenceServerException, match=r"has no version 9 \(versions: 1, 2\)") as missing:
        client.get_inference_statistics("affine", "9")
    assert missing.value.status() == "404"


def test_the_server_says_it_has_the_extension(client: triton.InferenceServerClient) -> None:
    assert "statistics" in client.get_server_metadata()["extensions"]
