"""A window full of messages awaiting their PUBACK reads nothing from the outbox, and says so: the
publisher takes a fill as a read that succeeded only when one was made, else a passing read failure
was cleared by fills that read nothing, and came back, said again, once the window had room."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt_metrics import PublisherMetrics
from gateway.delivery.mqtt_window import DeliveryWindow
from gateway.delivery.outbox import Outbox
from gateway.protocol.mqtt_link import BrokerAddress
from tests.unit.delivery.test_outbox_clock_step import KEY, event


def test_a_full_window_reads_nothing_and_says_so(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    try:
        outbox.append_many([event(0), event(1)])
        # A client never connected: paho keeps what is published, and no PUBACK comes
        window = DeliveryWindow(
            mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5),
            MqttConfig.model_validate({"url": "mqtt://127.0.0.1:1", "max_inflight": 1}),
            outbox,
            address=BrokerAddress("127.0.0.1", 1, tls=False),
            topics=("edge/jetson-01/alerts", "edge/jetson-01/evidence/{seq}"),
            metrics=PublisherMetrics(CollectorRegistry()),
            wake=threading.Event(),
            report_error=lambda _error: None,
        )
        assert window.fill()  # read, and the one message the window holds sent
        assert window.inflight == 1
        assert not window.fill()  # full: nothing read
    finally:
        outbox.close()
