"""HTTP metrics: requests, latency and rejections, in the registry the gateway hands to every part.

``/metrics`` serves that whole registry, so it shows the inference pool,
cameras and outbox next to the HTTP counters. Routes are labelled by their pattern
(``/v2/models/{name}/infer``), never by the raw path, and by the method where it is one of HTTP's
own (any other is ``other``), so label sets stay bounded: aiohttp's pure-Python parser, which it
falls back to without its C extension, takes any token as a method, and every new one a client sent
made a new series and a new entry here, for as long as the process ran.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.api.request_head import HEAD_TIMEOUT_S

# Requests are answered in well under a millisecond when rejected and in a few to tens of
# milliseconds when they run a model, so the buckets are dense at the low end.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
"""The methods counted by name (RFC 9110's and PATCH); any other is counted as ``OTHER_METHOD``."""
OTHER_METHOD = "other"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "edge_gateway_http_requests_total",
            "HTTP requests answered, by route pattern, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "edge_gateway_http_request_seconds",
            "Time from the handler's start to the response, by route pattern and status code "
            "(so the cost of a rejection shows apart from the cost of an answer).",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rejections = Counter(
            "edge_gateway_http_rejections_total",
            "Requests turned away before they reached a model, by reason.",
            ["reason"],
            registry=registry,
        )
        self.errors = Counter(
            "edge_gateway_http_unexpected_errors_total",
            "Requests that failed with an unexpected exception (answered 500).",
            registry=registry,
        )
        self.head_timeouts = Counter(
            "edge_gateway_http_head_timeouts_total",
            f"Connections closed because no whole request head came within {HEAD_TIMEOUT_S:g} s (of the "
            "accept, or of a later head's first byte): clients holding connections open without a request.",
            registry=registry,
        )
        self.connections_refused = Counter(
            "edge_gateway_http_connections_refused_total",
            "Connections closed as soon as accepted, by reason (limit: the API held its most "
            "connections, edge_gateway_http_connections_limit).",
            ["reason"],
            registry=registry,
        )
        self.connections = Gauge(
            "edge_gateway_http_connections", "Connections the API holds now.", registry=registry
        )
        self.connections_limit = Gauge(
            "edge_gateway_http_connections_limit",
            "Most connections the API holds at once (derived from the open-files limit).",
            registry=registry,
        )
        self.wait_budget_share = Gauge(
            "edge_gateway_admission_wait_budget_share",
            "Share of one item's service time a request may wait for a worker under the default wait "
            "budget (1: the whole item; less while refused demand keeps every worker busy); 1 under a "
            "fixed admission.max_queue_wait_ms.",
            registry=registry,
        )
        self.shared_memory_regions = Gauge(
            "edge_gateway_shared_memory_regions",
            "System shared-memory regions registered now (each holds a descriptor; 64 at most).",
            registry=registry,
        )

        # (route, method, status) -> its request counter and latency histogram. ``labels()`` takes a
        # lock and builds its key on every call; the set of routes, methods and codes is bounded.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in METHODS else OTHER_METHOD, status)
        children = self._children.get(key)
        if children is None:
            code = str(status)
            children = self._children[key] = (
                self.requests.labels(route, key[1], code),
                self.latency.labels(route, code),
            )
        children[0].inc()
        children[1].observe(seconds)
