"""While a device serves a replay, the alerts it decides meanwhile go out too.

The window served every queued replay range before any new alert: with a real publisher, an alert
committed 0.3 s into a replay of 20,000 alerts reached the broker 5.95 s later, after the last
replayed one (a replay of 100,000, the most one request asks for, held new alerts back for about
half a minute here, longer over a slow link). Now, while new alerts are waiting, they keep half
the window. Here ``fill`` runs once, on a real outbox and a real broker, so what it sends is exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt_metrics import PublisherMetrics
from gateway.delivery.mqtt_replay import ReplayRequest
from gateway.delivery.mqtt_window import DeliveryWindow
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.protocol.mqtt_link import broker_address, close_client
from tests.integration.delivery.publisher_process import DEVICE_ID, event
from tests.support.alert_collector import AlertCollector
from tests.support.mosquitto import Mosquitto

ALERTS = f"edge/{DEVICE_ID}/alerts"
WINDOW = 16


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    opened = Outbox(tmp_path, DEVICE_ID, load_or_create_key(tmp_path))
    yield opened
    opened.close()


def test_a_new_alert_is_sent_in_the_same_round_as_a_long_replay(broker: Mosquitto, outbox: Outbox) -> None:
    # Given 200 delivered alerts, a replay of all of them asked for, and a new alert (seq 201).
    outbox.append_many([event(index) for index in range(200)])
    outbox.mark_delivered(range(1, 201))
    outbox.append_many([event(200)])
    collector = AlertCollector(broker.port, ALERTS)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    try:
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        assert connected.wait(10)
        window = DeliveryWindow(
            client,
            MqttConfig.model_validate({"url": broker.url, "max_inflight": WINDOW}),
            outbox,
            address=broker_address(broker.url),
            topics=(ALERTS, f"edge/{DEVICE_ID}/evidence/{{seq}}"),
            metrics=PublisherMetrics(CollectorRegistry()),
            wake=threading.Event(),
            report_error=lambda _: None,
        )
        window.replays.put_nowait(ReplayRequest(1, 200))

        # When the window is filled once.
        window.fill()

        # Then its WINDOW messages hold the new alert beside the first replayed ones.
        deadline = time.monotonic() + 10
        while len(collector.payloads) < WINDOW and time.monotonic() < deadline:
            time.sleep(0.02)
        assert window.inflight == WINDOW
        assert 201 in collector.payloads
        assert 1 in collector.payloads
    finally:
        close_client(client)
        collector.close()
