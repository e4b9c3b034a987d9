"""Two ``audit serve`` instances started from one config share its client id (by default
``edge-gateway.audit``): the broker keeps one connection per client id, so each instance's connect
closed the other's, over and over for as long as both ran, and all either said was "disconnected
(Unspecified error); reconnecting". Now each says what to check, naming the client id (its
``last_error``, which ``audit serve`` shows as its systemd status, and an error logged once), and
stops saying it once its connection stays up. A real mosquitto, a store on SQLite."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.audit.subscriber import AuditSubscriber
from gateway.config import AuditConfig
from tests.support.audit_device import wait_until
from tests.support.mosquitto import Mosquitto

KEY = bytes(range(32))
WAIT_S = 40.0


@pytest.fixture
def config(tmp_path: Path) -> Iterator[AuditConfig]:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"box-1: {KEY.hex()}\n")
    with Mosquitto(tmp_path / "broker") as broker:
        yield AuditConfig.model_validate(
            {
                "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
                "database": f"sqlite:///{tmp_path}/audit.db",
                "keys_file": str(keys_file),
            }
        )


def test_two_instances_with_one_client_id_say_so(
    config: AuditConfig, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two subscribers started from the same config
    subscribers: list[AuditSubscriber] = []
    stores: list[AuditStore] = []
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.audit.subscriber"):
            for _ in range(2):
                stores.append(AuditStore.open(config.database, {"box-1": KEY}))
                subscribers.append(AuditSubscriber(config, stores[-1], CollectorRegistry()))
                subscribers[-1].start()

            # Then one of them, then both, name the client id they fight over
            def named(subscriber: AuditSubscriber) -> bool:
                return f"client id {config.client_id!r}" in (subscriber.last_error or "")

            wait_until(lambda: all(named(subscriber) for subscriber in subscribers), WAIT_S, interval_s=0.2)
        assert "Each audit instance needs a client_id of its own" in caplog.text

        # And once one of them stops, the other's connection stays up and the warning goes
        subscribers[1].stop()
        wait_until(lambda: subscribers[0].connected and subscribers[0].last_error is None, WAIT_S, 0.2)
    finally:
        for subscriber in subscribers:
            subscriber.stop()
        for store in stores:
            store.close()
