"""The status connection of an audit instance (``gateway.audit.status``) has a client id no other
instance's, nor a gateway's, can be. It was ``{client_id}-status``: an instance whose client id was
``x-status`` (or a gateway whose device id was ``audit-status``, whose client id is then
``edge-gateway-audit-status``) shared it with the status connection of the instance named ``x``
(or of the default ``edge-gateway-audit``), and the broker closed one of the two each time the
other connected, for as long as both ran. A real mosquitto, stores on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.audit.subscriber import AuditSubscriber
from gateway.config import AuditConfig
from tests.support.audit_device import connect_client, wait_until
from tests.support.mosquitto import Mosquitto

KEY = bytes(range(32))
WAIT_S = 30.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker") as server:
        yield server


def config(tmp_path: Path, broker: Mosquitto, client_id: str) -> AuditConfig:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"box-1: {KEY.hex()}\n")
    return AuditConfig.model_validate(
        {
            "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
            "database": f"sqlite:///{tmp_path}/{client_id}.db",
            "keys_file": str(keys_file),
            "client_id": client_id,
        }
    )


@pytest.mark.parametrize("first", ["x", "edge-gateway-audit", "edge-gateway.audit"])
def test_an_instance_named_like_anothers_status_connection_keeps_its_connection(
    tmp_path: Path, broker: Mosquitto, first: str
) -> None:
    # Given a device's retained status, and an instance whose client id is another's plus "-status"
    device = connect_client(broker.url, "box-1-client")
    device.publish(
        "edge/box-1/status", json.dumps({"state": "online"}).encode(), qos=1, retain=True
    ).wait_for_publish(10)
    device.disconnect()
    device.loop_stop()
    subscribers: list[AuditSubscriber] = []
    stores: list[AuditStore] = []
    try:
        for client_id in (f"{first}-status", first):
            settings = config(tmp_path, broker, client_id)
            stores.append(AuditStore.open(settings.database, {"box-1": KEY}))
            subscribers.append(AuditSubscriber(settings, stores[-1], CollectorRegistry()))
            subscribers[-1].start()
            assert subscribers[-1].wait_subscribed(WAIT_S), subscribers[-1].last_error

        # When the second instance's status connection is up (it has stored the device's status)
        reader = AuditStore.open(config(tmp_path, broker, first).database, {"box-1": KEY})
        try:
            wait_until(lambda: [state.status for state in reader.devices()] == ["online"], WAIT_S)
        finally:
            reader.close()

        # Then the broker took no connection over from another with its client id
        assert "already connected, closing old connection" not in broker.log()
        assert all(subscriber.connected for subscriber in subscribers)
    finally:
        for subscriber in subscribers:
            subscriber.stop()
        for store in stores:
            store.close()
