"""The audit service's default MQTT client id is one no gateway's can be. It was
``edge-gateway-audit``, the client id of a gateway whose device id is ``audit`` (a gateway's default
is ``edge-gateway-{device_id}``): with both running, the broker closed one of the two connections
each time the other connected, for as long as both ran. It is now ``edge-gateway.audit``, and no
gateway default starts with ``edge-gateway.``. A real gateway publisher and outbox, a real
mosquitto, the audit subscriber with its default client id, a store on SQLite."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.audit.subscriber import AuditSubscriber
from gateway.config import AuditConfig, MqttConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from tests.support.audit_device import event, wait_until
from tests.support.mosquitto import Mosquitto

DEVICE = "audit"
WAIT_S = 30.0


def test_a_gateway_named_audit_and_the_audit_service_keep_their_connections(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "gateway")
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"{DEVICE}: {key.hex()}\n")
    url = f"sqlite:///{tmp_path}/audit.db"
    with Mosquitto(tmp_path / "broker") as broker:
        # Given the audit service with no client id configured
        config = AuditConfig.model_validate(
            {
                "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
                "database": url,
                "keys_file": str(keys_file),
            }
        )
        store = AuditStore.open(url, {DEVICE: key})
        subscriber = AuditSubscriber(config, store, CollectorRegistry())
        subscriber.start()
        # And a gateway whose device id is "audit", with its default client id
        outbox = Outbox(tmp_path / "gateway", DEVICE, key)
        publisher = MqttPublisher(
            MqttConfig(url=broker.url, reconnect_min_s=0.5, reconnect_max_s=1.0),
            DEVICE,
            outbox,
            CollectorRegistry(),
        )
        publisher.start()
        reader = AuditStore.open(url, {DEVICE: key})
        try:
            assert subscriber.wait_subscribed(WAIT_S), subscriber.last_error

            # When the gateway sends alerts
            outbox.append_many([event(seq) for seq in range(1, 4)])

            # Then the audit service stores them and the gateway's online status
            def stored() -> bool:
                devices = reader.devices(DEVICE)
                return bool(devices) and (devices[0].contiguous_seq, devices[0].status) == (3, "online")

            wait_until(stored, WAIT_S)
            wait_until(lambda: outbox.stats().pending == 0, WAIT_S)
            # And the broker never took one's connection over for the other's
            assert "already connected, closing old connection" not in broker.log()
            assert subscriber.connected
        finally:
            reader.close()
            publisher.stop()
            outbox.close()
            subscriber.stop()
            store.close()
