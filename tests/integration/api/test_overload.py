"""Overload against the real server: only 429/503 (with Retry-After) and 504, never another 5xx,
and the gateway serves normally afterwards. Bounded: a fixed number of requests per client."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass

import aiohttp
import numpy as np
from prometheus_client import generate_latest

from gateway.api.tensors import encode_binary_request
from gateway.config import AdmissionConfig
from tests.integration.api.conftest import SLOW_WIDTH, GatewayFactory

SLOW_INFER = "/v2/models/slow/infer"
# Full batches: each request costs a worker several milliseconds, so 48 clients overload it on any
# machine rather than only on a slow one.
ROWS = 4


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    retry_after: str | None
    body: bytes


def binary_request(rows: int) -> tuple[bytes, dict[str, str]]:
    array = np.random.default_rng(rows).standard_normal((rows, SLOW_WIDTH)).astype(np.float32)
    return encode_binary_request({"INPUT0": array})


async def hammer(port: int, clients: int, requests_each: int, headers: dict[str, str]) -> list[Outcome]:
    body, binary_headers = binary_request(ROWS)
    outcomes: list[Outcome] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            for _ in range(requests_each):
                async with session.post(
                    f"http://127.0.0.1:{port}{SLOW_INFER}", data=body, headers={**binary_headers, **headers}
                ) as response:
                    outcomes.append(
                        Outcome(response.status, response.headers.get("Retry-After"), await response.read())
                    )

        await asyncio.gather(*(client() for _ in range(clients)))
    return outcomes


def check(outcomes: list[Outcome], allowed: set[int]) -> Counter[int]:
    statuses = Counter(outcome.status for outcome in outcomes)
    assert set(statuses) <= allowed | {200}, statuses
    for outcome in outcomes:
        if outcome.status in (429, 503):
            assert outcome.retry_after is not None
            assert int(outcome.retry_after) >= 1
        if outcome.status != 200:
            assert json.loads(outcome.body)["error"]
    return statuses


def test_queue_overload_answers_503_with_retry_after_and_recovers(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(
        inference={"workers": 1, "queue_capacity": 16, "max_batch_size": 4},
        admission=AdmissionConfig(rate_per_s=100_000, burst=100_000, high_watermark=0.5),
    )
    outcomes = asyncio.run(hammer(gateway.api.port, clients=48, requests_each=6, headers={}))
    statuses = check(outcomes, {503})
    assert statuses[200] > 0, statuses
    assert statuses[503] > 0, statuses
    metrics = generate_latest(gateway.registry).decode()
    assert "edge_gateway_http_unexpected_errors_total 0.0" in metrics
    body, headers = binary_request(2)
    assert gateway.api.request("POST", SLOW_INFER, body, headers).status == 200


def test_deadlines_under_overload_give_504_not_other_errors(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(
        inference={"workers": 1, "queue_capacity": 64, "max_batch_size": 4},
        # Neither the watermark nor the wait budget refuses: the queue grows until deadlines expire.
        admission=AdmissionConfig(
            rate_per_s=100_000, burst=100_000, high_watermark=1.0, max_queue_wait_ms=60_000
        ),
    )
    outcomes = asyncio.run(
        hammer(gateway.api.port, clients=48, requests_each=4, headers={"X-Request-Timeout-Ms": "5"})
    )
    statuses = check(outcomes, {503, 504})
    assert statuses[504] > 0, statuses


def test_client_rate_limit_answers_429_with_retry_after(make_gateway: GatewayFactory) -> None:
    # A wait budget of a minute leaves the rate limit as the only thing that can refuse.
    gateway = make_gateway(
        # One a second: the 20 requests take 5 s before the refill alone lets half of them through.
        admission=AdmissionConfig(rate_per_s=1, burst=5, max_queue_wait_ms=60_000),
        tokens=frozenset({"a", "b"}),
    )
    outcomes = asyncio.run(
        hammer(gateway.api.port, clients=4, requests_each=5, headers={"Authorization": "Bearer a"})
    )
    statuses = check(outcomes, {429})
    assert statuses[429] >= 10, statuses
    other = asyncio.run(
        hammer(gateway.api.port, clients=1, requests_each=3, headers={"Authorization": "Bearer b"})
    )
    assert [outcome.status for outcome in other] == [200, 200, 200], "each token has its own bucket"


def test_default_admission_refuses_what_would_wait_past_one_service_time(
    make_gateway: GatewayFactory,
) -> None:
    # Given the default queue (64 items, watermark 0.8), so only the wait estimate can refuse
    gateway = make_gateway(
        inference={"workers": 1, "max_batch_size": 4},
        admission=AdmissionConfig(rate_per_s=100_000, burst=100_000),
    )
    # When 48 clients each send requests of four rows (a few ms of work each) at once
    outcomes = asyncio.run(hammer(gateway.api.port, clients=48, requests_each=4, headers={}))
    # Then the excess is refused with 503 + Retry-After by the wait estimate, never by a full queue
    statuses = check(outcomes, {503})
    assert statuses[200] > 0, statuses
    assert statuses[503] > 0, statuses
    metrics = generate_latest(gateway.registry).decode()
    assert 'edge_gateway_http_rejections_total{reason="queue_wait"}' in metrics
    assert 'edge_gateway_http_rejections_total{reason="overloaded"}' not in metrics
    assert not gateway.registry.get_sample_value(
        "edge_gateway_inference_drops_total", {"reason": "queue_full"}
    )
    refused = [json.loads(outcome.body)["error"] for outcome in outcomes if outcome.status == 503]
    assert all("expected wait for a worker" in message for message in refused), refused[:3]
