"""The MQTT publisher's Prometheus metrics, registered once per publisher."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class PublisherMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "edge_gateway_mqtt_alerts_published", "Alert PUBLISH packets sent.", registry=registry
        )
        self.delivered = Counter(
            "edge_gateway_mqtt_alerts_delivered",
            "Alerts acknowledged by the broker (PUBACK).",
            registry=registry,
        )
        self.evidence_published = Counter(
            "edge_gateway_mqtt_evidence_published", "Evidence PUBLISH packets sent.", registry=registry
        )
        self.evidence_delivered = Counter(
            "edge_gateway_mqtt_evidence_delivered",
            "Evidence images acknowledged by the broker (PUBACK).",
            registry=registry,
        )
        self.refused = Counter(
            "edge_gateway_mqtt_alerts_refused",
            "PUBACKs with a failure reason code, alerts and evidence (sent again).",
            registry=registry,
        )
        self.undeliverable = Counter(
            "edge_gateway_mqtt_evidence_undeliverable",
            "Evidence images the broker refused for good (e.g. too large); kept in the outbox, not resent.",
            registry=registry,
        )
        self.replay_drops = Counter(
            "edge_gateway_mqtt_replay_requests_dropped",
            "Replay requests dropped: bad or queue full.",
            registry=registry,
        )
        self.connected = Gauge(
            "edge_gateway_mqtt_connected", "1 while connected to the broker.", registry=registry
        )
        self.inflight = Gauge(
            "edge_gateway_mqtt_inflight", "Alerts and evidence images awaiting PUBACK.", registry=registry
        )
