"""A replay request nested too deeply for Python's json (a 100 KB run of ``[``) raised RecursionError
in paho's network thread, which ended it: the publisher kept writing alerts to the socket, but no
PUBACK was read again, so nothing was marked delivered, no keepalive was sent and no reconnect would
follow. It is now refused like any malformed request, and delivery goes on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import DeliveryState
from gateway.protocol.mqtt_link import close_client
from tests.integration.delivery.publisher_process import DEVICE_ID, event
from tests.support.alert_collector import AlertCollector
from tests.support.mosquitto import Mosquitto

ALERTS = f"edge/{DEVICE_ID}/alerts"


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    opened = Outbox(tmp_path, DEVICE_ID, load_or_create_key(tmp_path))
    yield opened
    opened.close()


def test_a_deeply_nested_replay_request_is_refused_and_delivery_goes_on(
    broker: Mosquitto, outbox: Outbox
) -> None:
    collector = AlertCollector(broker.port, ALERTS)
    config = MqttConfig.model_validate({"url": broker.url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5})
    publisher = MqttPublisher(config, DEVICE_ID, outbox, CollectorRegistry())
    publisher.start()
    requester = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    try:
        outbox.append_many([event(index) for index in range(3)])
        collector.wait_for(3)
        wait_until(lambda: outbox.stats().pending == 0, "the first alerts acknowledged")

        # When a replay request nested 100,000 deep arrives, then a good one for seq 1..3.
        requester.connect("127.0.0.1", broker.port)
        requester.loop_start()
        replay = f"edge/{DEVICE_ID}/replay"
        requester.publish(replay, b"[" * 100_000, qos=1).wait_for_publish(5)
        late = AlertCollector(broker.port, ALERTS)
        try:
            requester.publish(replay, json.dumps({"from_seq": 1, "to_seq": 3}), qos=1).wait_for_publish(5)
            # Then the good one is answered and new alerts are still acknowledged.
            late.wait_for(3)
        finally:
            late.close()
        outbox.append_many([event(index) for index in range(3, 6)])
        collector.wait_for(6)
        wait_until(lambda: outbox.stats().pending == 0, "the later alerts acknowledged")
        assert publisher.status().state is DeliveryState.CONNECTED
    finally:
        close_client(requester)
        publisher.stop()
        collector.close()
