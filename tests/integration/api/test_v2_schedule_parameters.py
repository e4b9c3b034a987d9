"""Triton's schedule and sequence request parameters over /v2, as Triton treats them on a model with
a dynamic batcher and no sequence batcher, through the real server and real ONNX Runtime sessions.

Triton's ``timeout`` bounds a request's time in the queue: one that a worker has started runs to its
end. Its ``sequence_*`` parameters are ignored by a model without a sequence batcher and its
``priority`` by a model without priority levels (every model here), but each must have its type."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from gateway.api.context import RUNNING_GRACE_S
from gateway.inference.batcher import Batch
from tests.integration.api.conftest import Gateway, GatewayFactory
from tests.support.onnx_models import affine_expected

ROW = np.arange(4, dtype=np.float32)[np.newaxis]
AFFINE_V1 = "/v2/models/affine/versions/1/infer"
WAIT_S = 30.0
"""Longest any step waits for the server: a deadline for polls, never a pause."""


def affine_input() -> triton.InferInput:
    tensor = triton.InferInput("INPUT0", list(ROW.shape), "FP32")
    tensor.set_data_from_numpy(ROW)
    return tensor


def post(gateway: Gateway, path: str, document: object) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.api.port, timeout=WAIT_S)
    try:
        connection.request("POST", path, json.dumps(document).encode(), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def infer_document(parameters: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": ROW.ravel().tolist()}],
        **extra,
    }
    if parameters is not None:
        document["parameters"] = parameters
    return document


def hold_batches(gateway: Gateway, monkeypatch: pytest.MonkeyPatch, hold: Callable[[Batch], None]) -> None:
    """Every batch a worker takes waits in ``hold(batch)``, then runs on the real session."""
    pool = gateway.service.pool
    run = pool.run_batch

    def held(batch: Batch, index: int) -> None:
        hold(batch)
        run(batch, index)

    monkeypatch.setattr(pool, "run_batch", held)


@dataclass
class BusyWorker:
    released: threading.Event
    """Set when the block ends: the worker may go on."""
    answers: list[tuple[int, Any]] = field(default_factory=list)
    """The answer to the request that kept it busy, once served."""


@contextmanager
def worker_busy(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[BusyWorker]:
    """The gateway's only worker busy with a request without a timeout until the block ends, and
    that request answered (``answers``) after it."""
    busy = BusyWorker(threading.Event())
    taken = threading.Event()

    def until_released(batch: Batch) -> None:
        taken.set()
        busy.released.wait(WAIT_S)

    hold_batches(gateway, monkeypatch, until_released)
    # A thread of its own: tritonclient's async_infer sends nothing until its gevent hub runs.
    first = threading.Thread(target=lambda: busy.answers.append(post(gateway, AFFINE_V1, infer_document())))
    first.start()
    try:
        assert taken.wait(WAIT_S)
        yield busy
    finally:
        busy.released.set()
        first.join(WAIT_S)


def test_a_request_that_started_before_its_timeout_runs_to_its_end(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given workers that start each batch only once its requests' timeouts (and the grace the server
    # gives running batches) have passed: the request leaves the queue in time, and runs past it
    def past_the_timeouts(batch: Batch) -> None:
        deadlines = [item.deadline for item in batch.items if item.deadline is not None]
        if deadlines:
            threading.Event().wait(max(deadlines) + 2 * RUNNING_GRACE_S - time.monotonic())

    hold_batches(gateway, monkeypatch, past_the_timeouts)
    with triton.InferenceServerClient(gateway.url, network_timeout=WAIT_S) as client:
        # When a client asks for a timeout of 1 s (it was answered 504 once the 1 s passed)
        result = client.infer("affine", [affine_input()], model_version="1", timeout=1_000_000)
    # Then the request is answered with its result, as Triton answers it
    assert np.array_equal(result.as_numpy("OUTPUT0"), affine_expected(ROW))


def test_a_request_still_queued_when_its_timeout_passes_is_answered_504_at_once(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = make_gateway(inference={"workers": 1})
    # Given the only worker busy with a request without a timeout
    with worker_busy(gateway, monkeypatch) as busy:
        # When another request with a timeout of 0.2 s waits behind it
        with (
            triton.InferenceServerClient(gateway.url, network_timeout=WAIT_S) as client,
            pytest.raises(InferenceServerException) as refused,
        ):
            client.infer("affine", [affine_input()], model_version="1", timeout=200_000)
        # Then it is answered 504 while the worker is still busy, and the first is served after
        assert not busy.released.is_set()
        assert refused.value.status() == "504"
        assert "timeout passed while it waited in the queue" in str(refused.value.message())
    answers = busy.answers
    assert answers[0][0] == 200, answers
    assert answers[0][1]["outputs"][0]["data"] == affine_expected(ROW).ravel().tolist()


def test_a_request_whose_timeout_passed_in_the_queue_is_counted_as_a_timeout_failure(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = make_gateway(inference={"workers": 1})
    # Given the only worker busy, and a request with a timeout of 0.2 s queued behind it
    with worker_busy(gateway, monkeypatch) as busy:
        status, body = post(gateway, AFFINE_V1, infer_document({"timeout": 200_000}))
        assert status == 504, body
    assert busy.answers[0][0] == 200, busy.answers
    # When the worker comes to the timed-out request
    deadline = time.monotonic() + WAIT_S
    while (stats := model_stats(gateway))["inference_stats"]["fail"]["count"] == 0:
        assert time.monotonic() < deadline, stats
        threading.Event().wait(0.01)
    # Then Triton's statistics count it as a failed request (it was not counted at all), and the
    # metrics as a timeout of its own kind (it was counted as the X-Request-Timeout-Ms deadline's)
    assert stats["inference_stats"]["fail"]["count"] == 1
    assert stats["inference_stats"]["success"]["count"] == 1
    outcomes = outcome_counts(gateway)
    assert outcomes == {"ok": 1.0, "timeout": 1.0}, outcomes


def model_stats(gateway: Gateway) -> dict[str, Any]:
    reply = gateway.api.get("/v2/models/affine/versions/1/stats")
    assert reply.status == 200, reply.body
    stats: dict[str, Any] = reply.json()["model_stats"][0]
    return stats


def outcome_counts(gateway: Gateway) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in gateway.registry.collect():
        for sample in family.samples:
            if sample.name == "edge_gateway_inference_requests_total" and sample.labels["model"] == "affine":
                counts[sample.labels["outcome"]] = sample.value
    return counts


def test_the_model_config_lists_its_dynamic_batching_as_triton_does(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(inference={"max_queue_delay_ms": 2, "queue_capacity": 48})
    with triton.InferenceServerClient(gateway.url) as client:
        config = client.get_model_config("affine", "1")
    # Then its dynamic batcher is listed with what this server does: its delay and its queue, no
    # priority levels, and a request's timeout taken (allow_timeout_override), none by default
    assert config["dynamic_batching"] == {
        "preferred_batch_size": [],
        "max_queue_delay_microseconds": 2000,
        "preserve_ordering": False,
        "priority_levels": 0,
        "default_priority_level": 0,
        "default_queue_policy": {
            "timeout_action": "REJECT",
            "default_timeout_microseconds": 0,
            "allow_timeout_override": True,
            "max_queue_size": 48,
        },
        "priority_queue_policy": {},
    }


def test_sequence_and_priority_parameters_are_served_as_triton_serves_a_model_without_them(
    gateway: Gateway,
) -> None:
    with triton.InferenceServerClient(gateway.url) as client:
        # When a stock client sends a sequence id, its start and end flags, and a priority level
        result = client.infer(
            "affine",
            [affine_input()],
            model_version="1",
            sequence_id=7,
            sequence_start=True,
            sequence_end=True,
            priority=3,
        )
        named = client.infer(
            "affine", [affine_input()], model_version="1", sequence_id="camera-7", priority=2**64 - 1
        )
    # Then they change nothing, as on a Triton model without a sequence batcher or priority levels
    assert np.array_equal(result.as_numpy("OUTPUT0"), affine_expected(ROW))
    assert np.array_equal(named.as_numpy("OUTPUT0"), affine_expected(ROW))


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"sequence_id": -1}, "'sequence_id' parameter must be an unsigned 64-bit integer or a string"),
        ({"sequence_id": 1.5}, "'sequence_id' parameter must be an unsigned 64-bit integer or a string"),
        ({"sequence_id": True}, "'sequence_id' parameter must be an unsigned 64-bit integer or a string"),
        ({"sequence_id": 2**64}, "'sequence_id' parameter must be an unsigned 64-bit integer or a string"),
        ({"sequence_id": 1, "sequence_start": "yes"}, "the 'sequence_start' parameter must be true or false"),
        ({"sequence_id": 1, "sequence_end": 1}, "the 'sequence_end' parameter must be true or false"),
        ({"priority": -1}, "the 'priority' parameter must be an unsigned 64-bit integer, got -1"),
        ({"priority": "high"}, "the 'priority' parameter must be an unsigned 64-bit integer"),
        ({"triton_enable_empty_final_response": True}, "names starting with 'triton_' are reserved"),
        ({"camera": ["gate"]}, "request parameter 'camera' must be a string, a number or true/false"),
        ({"headers": {"x": "y"}}, "request parameter 'headers' must be a string, a number or true/false"),
    ],
)
def test_request_parameters_of_the_wrong_type_are_a_400_naming_them(
    gateway: Gateway, parameters: dict[str, Any], problem: str
) -> None:
    # When a request's parameters have types Triton refuses (it answers "Unable to parse ...")
    status, body = post(gateway, AFFINE_V1, infer_document(parameters))
    # Then it is refused naming the parameter, not served as if they were not there
    assert status == 400, body
    assert problem in body["error"]


def test_custom_parameters_of_triton_types_are_taken(gateway: Gateway) -> None:
    with triton.InferenceServerClient(gateway.url) as client:
        result = client.infer(
            "affine",
            [affine_input()],
            model_version="1",
            parameters={"camera": "gate", "zoom": 1.5, "count": 3, "night": True},
        )
    assert np.array_equal(result.as_numpy("OUTPUT0"), affine_expected(ROW))


def test_a_classification_count_of_0_asks_for_the_tensor_itself(gateway: Gateway) -> None:
    # When an output asks for 0 classes (Triton's "no classification"; it was refused as unsupported)
    outputs = [{"name": "OUTPUT0", "parameters": {"classification": 0}}]
    status, body = post(gateway, AFFINE_V1, infer_document(outputs=outputs))
    # Then the output is answered as it is
    assert status == 200, body
    assert body["outputs"][0]["data"] == affine_expected(ROW).ravel().tolist()


@pytest.mark.parametrize("count", [-1, 1.5, "3", True, None])
def test_a_classification_count_that_is_not_a_count_is_a_400_naming_it(
    gateway: Gateway, count: object
) -> None:
    outputs = [{"name": "OUTPUT0", "parameters": {"classification": count}}]
    status, body = post(gateway, AFFINE_V1, infer_document(outputs=outputs))
    assert status == 400, body
    assert "'classification' must be a non-negative integer (how many classes)" in body["error"]
    assert json.dumps(count) in body["error"]


def test_nan_and_infinity_in_json_data_are_taken_as_by_triton(gateway: Gateway) -> None:
    # Triton's JSON parser takes NaN and Infinity (rapidjson's kParseNanAndInfFlag), and so does
    # tritonclient's JSON encoding of a float tensor that holds them.
    values = np.array([[np.nan, np.inf, -np.inf, 1.0]], dtype=np.float32)
    tensor = triton.InferInput("INPUT0", list(values.shape), "FP32")
    tensor.set_data_from_numpy(values, binary_data=False)
    with triton.InferenceServerClient(gateway.url) as client:
        result = client.infer(
            "affine",
            [tensor],
            model_version="1",
            outputs=[triton.InferRequestedOutput("OUTPUT0", binary_data=False)],
        )
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), affine_expected(values))
