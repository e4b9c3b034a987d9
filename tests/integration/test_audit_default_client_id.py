"""The audit service's default MQTT client id is one no gateway's can be. It was
``edge-gateway-audit``, the client id of a gateway whose device id is ``audit`` (a gateway's default
is ``edge-gateway-{device_id}``): with both running, the broker closed one of the two connections
each time the other connected, for as long as both ran. It is now ``edge-gateway.audit``, and no
gateway default starts with ``edge-gateway.``. A real gateway publisher and outbox, a real
mosquitto, the audit subscriber with its default client id, a store on SQLite."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from tests.support.audit_device import event, wait_until
from tests.support.audit_service import audit_service

DEVICE = "audit"
WAIT_S = 30.0


def test_a_gateway_named_audit_and_the_audit_service_keep_their_connections(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "gateway")
    # Given the audit service with no client id configured
    with audit_service(tmp_path, f"sqlite:///{tmp_path}/audit.db", {DEVICE: key}) as service:
        # And a gateway whose device id is "audit", with its default client id
        outbox = Outbox(tmp_path / "gateway", DEVICE, key)
        publisher = MqttPublisher(
            MqttConfig(url=service.broker_url, reconnect_min_s=0.5, reconnect_max_s=1.0),
            DEVICE,
            outbox,
            CollectorRegistry(),
        )
        publisher.start()
        try:
            # When the gateway sends alerts
            outbox.append_many([event(seq) for seq in range(1, 4)])

            # Then the audit service stores them and the gateway's online status
            def stored() -> bool:
                devices = service.store.devices(DEVICE)
                return bool(devices) and (devices[0].contiguous_seq, devices[0].status) == (3, "online")

            wait_until(stored, WAIT_S)
            wait_until(lambda: outbox.stats().pending == 0, WAIT_S)
            # And the broker never took one's connection over for the other's
            broker_log = (tmp_path / "broker" / "mosquitto.log").read_text(errors="replace")
            assert "already connected, closing old connection" not in broker_log
            assert service.sample("edge_gateway_audit_connected") == 1
        finally:
            publisher.stop()
            outbox.close()
