"""The audit subscriber's own Prometheus metrics (this instance's; the fleet's gauges are read from
the store by ``gateway.audit.fleet_view``)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.audit.bounds import Drops
from gateway.audit.records import IngestResult, Outcome

LAG_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 86400.0)


class SubscriberMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "edge_gateway_audit_messages_total",
            "Alert messages handled by the audit subscriber, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "edge_gateway_audit_rejected_total",
            "Rejected alert messages, by reason.",
            ["reason"],
            registry=registry,
        )
        self.evidence = Counter(
            "edge_gateway_audit_evidence_total",
            "Evidence images handled by the audit subscriber, by outcome (stored includes images held "
            "until their alert arrives).",
            ["outcome"],
            registry=registry,
        )
        self.evidence_dropped = Counter(
            "edge_gateway_audit_evidence_dropped_total",
            "Images held before their alert that were dropped to keep them within bounds, by the bound: "
            "device (per device), total, or unkeyed (held for a device taken out of the keys file; "
            "gateway.audit.bounds).",
            ["bound"],
            registry=registry,
        )
        self.rejected_dropped = Counter(
            "edge_gateway_audit_rejected_dropped_total",
            "Rejected messages dropped from the store, oldest first, to keep it within bounds (still "
            "counted in the fleet's rejected counts).",
            registry=registry,
        )
        self.status = Counter(
            "edge_gateway_audit_status_messages_total",
            "Device status messages read, by outcome (duplicate: the stored one again, or older).",
            ["outcome"],
            registry=registry,
        )
        self.lag = Histogram(
            "edge_gateway_audit_lag_seconds",
            "Arrival minus alert time (frame_ts) of the alerts this instance stored.",
            buckets=LAG_BUCKETS_S,
            registry=registry,
        )
        self.replay_requests = Counter(
            "edge_gateway_audit_replay_requests_total", "Replay requests sent to devices.", registry=registry
        )
        self.store_errors = Counter(
            "edge_gateway_audit_store_errors_total",
            "Failed audit store transactions (retried).",
            registry=registry,
        )
        self.queue_full = Counter(
            "edge_gateway_audit_queue_full_total",
            "Times the network thread waited for room in the store queue.",
            registry=registry,
        )
        self.open_gaps = Gauge(
            "edge_gateway_audit_devices_with_gaps",
            "Devices with missing alerts or evidence images.",
            registry=registry,
        )
        self.connected = Gauge(
            "edge_gateway_audit_connected", "1 while connected to the broker.", registry=registry
        )

    def count(self, results: Iterable[IngestResult]) -> None:
        """The outcomes of a stored batch."""
        for result in results:
            counter = self.status if result.status else self.messages
            (self.evidence if result.evidence else counter).labels(result.outcome.value).inc()
            if result.lag_s is not None:
                self.lag.observe(max(0.0, result.lag_s))
            if result.outcome is Outcome.REJECTED and result.reason is not None:
                self.rejected.labels(result.reason.value).inc()

    def count_drops(self, drops: Drops) -> None:
        """What the store's bounds dropped in the transactions just committed."""
        for bound, count in drops.held.items():
            self.evidence_dropped.labels(bound).inc(count)
        self.rejected_dropped.inc(sum(drops.rejected.values()))
