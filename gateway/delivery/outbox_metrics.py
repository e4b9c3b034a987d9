"""The outbox's Prometheus metrics, registered once per outbox."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.committed = Counter(
            "edge_gateway_outbox_alerts_committed",
            "Alerts durably committed to the outbox.",
            registry=registry,
        )
        self.commits = Counter(
            "edge_gateway_outbox_commits",
            "Outbox transactions (one fsync each with synchronous=full).",
            registry=registry,
        )
        self.pruned = Counter(
            "edge_gateway_outbox_alerts_pruned", "Delivered alerts removed by retention.", registry=registry
        )
        self.pruned_images = Counter(
            "edge_gateway_outbox_evidence_pruned",
            "Delivered evidence images dropped by retention (their alerts kept).",
            registry=registry,
        )
        self.last_seq = Gauge("edge_gateway_outbox_last_seq", "Newest committed seq.", registry=registry)
        self.commit_failures = Counter(
            "edge_gateway_outbox_commit_failures",
            "Commit attempts the disk refused (each is retried; no alert is dropped).",
            registry=registry,
        )
        self.failing = Gauge(
            "edge_gateway_outbox_commit_failing", "1 while commits are being refused.", registry=registry
        )
