"""The audit subscriber running in-process against a real mosquitto, as ``audit serve`` runs it (its
config from the same keys, its store with the config's bounds), with an MQTT client to publish as
devices and a store connection of the test's own to read what was stored."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore, StoreBounds
from gateway.audit.subscriber import AuditSubscriber
from gateway.config import AuditConfig
from tests.support.audit_device import connect_client, wait_until
from tests.support.fleet_server import fleet_server
from tests.support.mosquitto import Mosquitto

WAIT_S = 30.0


@dataclass
class AuditService:
    url: str
    keys: Mapping[str, bytes]
    broker_url: str
    registry: CollectorRegistry
    """The subscriber's metrics."""
    client: mqtt.Client
    """Connected to the broker, to publish as any device."""
    store: AuditStore
    """A reader of the test's own: the subscriber's store belongs to its store thread."""

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def handled(self, name: str, labels: dict[str, str], count: int) -> None:
        """Wait until the counter ``name`` with ``labels`` has reached ``count``."""
        wait_until(lambda: self.sample(name, labels) >= count, WAIT_S)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def devices(self) -> dict[str, Any]:
        """``/v1/devices`` of the fleet API over the store, by device id."""
        with fleet_server(self.url, dict(self.keys), "token") as server:
            answer = json.loads(server.get("/v1/devices?limit=1000").body)
        return {device["device_id"]: device for device in answer["devices"]}


@contextmanager
def audit_service(
    directory: Path, database_url: str, keys: Mapping[str, bytes], **settings: Any
) -> Iterator[AuditService]:
    """The subscriber on ``database_url`` with a keys file of ``keys``, subscribed to a broker of its
    own; ``settings`` are more keys of its config (``bounds``, ``replay_after_s``...)."""
    keys_file = directory / "keys.yaml"
    keys_file.write_text("".join(f"{device}: {key.hex()}\n" for device, key in keys.items()))
    with Mosquitto(directory / "broker") as broker:
        config = AuditConfig.model_validate(
            {
                "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
                "database": database_url,
                "keys_file": str(keys_file),
                **settings,
            }
        )
        registry = CollectorRegistry()
        store = AuditStore.open(database_url, keys, bounds=StoreBounds.from_config(config.bounds))
        subscriber = AuditSubscriber(config, store, registry)
        subscriber.start()
        client = connect_client(broker.url, f"devices-{secrets.token_hex(4)}")
        reader = AuditStore.open(database_url, keys)
        try:
            assert subscriber.wait_subscribed(10), subscriber.last_error
            yield AuditService(database_url, keys, broker.url, registry, client, reader)
        finally:
            reader.close()
            client.disconnect()
            client.loop_stop()
            subscriber.stop()
            store.close()
