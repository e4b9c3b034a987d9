"""HttpMetrics.observe keeps one series per route, method and status, however often it is called."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from gateway.api.metrics import HttpMetrics


def test_observations_add_up_per_route_method_and_status() -> None:
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    route = "/v2/models/{name}/infer"
    for _ in range(3):
        metrics.observe(route, "POST", 200, 0.004)
    metrics.observe(route, "POST", 503, 0.0004)
    metrics.observe("/v2", "GET", 200, 0.0001)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("edge_gateway_http_requests_total", route=route, method="POST", status="200") == 3
    assert sample("edge_gateway_http_requests_total", route=route, method="POST", status="503") == 1
    assert sample("edge_gateway_http_requests_total", route="/v2", method="GET", status="200") == 1
    assert sample("edge_gateway_http_request_seconds_count", route=route, status="200") == 3
    assert sample("edge_gateway_http_request_seconds_sum", route=route, status="200") == pytest.approx(0.012)
    assert sample("edge_gateway_http_request_seconds_bucket", route=route, status="503", le="0.0005") == 1


def test_methods_of_no_http_standard_are_one_series_however_many_a_client_invents() -> None:
    # aiohttp's pure-Python parser (its fallback without the C extension) takes any token as a
    # method: each new one made a series of its own, for as long as the process ran
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    for number in range(1000):
        metrics.observe("unmatched", f"FOO{number}", 405, 0.0001)
    metrics.observe("unmatched", "PATCH", 405, 0.0001)
    counted = {
        sample.labels["method"]: sample.value
        for family in registry.collect()
        if family.name == "edge_gateway_http_requests"
        for sample in family.samples
        if sample.name == "edge_gateway_http_requests_total"
    }
    assert counted == {"other": 1000, "PATCH": 1}
