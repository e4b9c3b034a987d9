"""Prometheus metrics of the batcher and worker pool, registered on the registry passed in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.domain import ModelRef

BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class InferenceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            "edge_gateway_inference_queue_depth",
            "Requests and frames waiting for a batch.",
            registry=registry,
        )
        self.batch_size = Histogram(
            "edge_gateway_inference_batch_size",
            "Rows per batch run by a worker.",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "edge_gateway_inference_queue_wait_seconds",
            "Time from submit until a worker took the item.",
            ["model", "version"],
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.compute = Histogram(
            "edge_gateway_inference_compute_seconds",
            "Engine run time per batch.",
            ["model", "version"],
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.drops = Counter(
            "edge_gateway_inference_drops_total",
            "Items dropped before they ran, by reason (queue_full, deadline, timeout, cancelled, shutdown).",
            ["reason"],
            registry=registry,
        )
        self.requests = Counter(
            "edge_gateway_inference_requests_total",
            "Finished requests and frames by model, version and outcome.",
            ["model", "version", "outcome"],
            registry=registry,
        )

        self.odd_outputs = Counter(
            "edge_gateway_inference_odd_outputs_total",
            "Output values postprocess dropped or clipped (NaN or infinite boxes and scores, scores "
            "above 1), by model, version and problem.",
            ["model", "version", "problem"],
            registry=registry,
        )

    def odd_output(self, ref: ModelRef, problem: str, count: int) -> None:
        self.odd_outputs.labels(ref.name, str(ref.version), problem).inc(count)

    def outcome(self, ref: ModelRef, outcome: str, count: int = 1) -> None:
        self.requests.labels(ref.name, str(ref.version), outcome).inc(count)
