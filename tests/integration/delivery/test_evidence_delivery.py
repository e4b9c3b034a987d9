"""Evidence through the publisher to a real mosquitto: each image on ``{prefix}/{device_id}/evidence/
{seq}`` at QoS 1 with its alert, marked delivered on its own PUBACK, kept through a broker outage,
and republished byte-identical by a replay request."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import AlertEvent, AlertKind, Evidence
from gateway.protocol.alerts import decode_alert
from gateway.protocol.mqtt_link import close_client
from tests.integration.delivery.publisher_process import DEVICE_ID, event
from tests.integration.delivery.test_mqtt_delivery import wait_until
from tests.support.alert_collector import AlertCollector
from tests.support.audit_device import jpeg
from tests.support.mosquitto import Mosquitto

ALERTS = f"edge/{DEVICE_ID}/alerts"
EVIDENCE = f"edge/{DEVICE_ID}/evidence/+"


class ImageCollector:
    """A persistent-session QoS 1 subscriber keeping every image by the seq in its topic."""

    def __init__(self, port: int) -> None:
        self.images: dict[int, bytes] = {}
        self.received = 0
        self.retained = 0
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"images-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self._client.on_connect = lambda client, *_: client.subscribe(EVIDENCE, qos=1)
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self._client.reconnect_delay_set(1, 2)
        self._client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("image collector did not subscribe")

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received += 1
            self.retained += int(message.retain)
            self.images[int(message.topic.rsplit("/", 1)[1])] = bytes(message.payload)

    def held(self) -> dict[int, bytes]:
        with self._lock:
            return dict(self.images)

    def close(self) -> None:
        close_client(self._client)


def with_image(number: int) -> tuple[AlertEvent, bytes]:
    data = jpeg(number)
    evidence = Evidence(hashlib.sha256(data).hexdigest(), len(data), "image/jpeg", 64, 48)
    return dataclasses.replace(event(number), evidence=evidence), data


class Device:
    """Outbox and publisher in this process, appending starts with images and ends without."""

    def __init__(self, state_dir: Path, url: str) -> None:
        self.key = load_or_create_key(state_dir)
        self.registry = CollectorRegistry()
        self.outbox = Outbox(state_dir, DEVICE_ID, self.key, registry=self.registry)
        config = MqttConfig.model_validate(
            {"url": url, "max_inflight": 8, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
        )
        self.publisher = MqttPublisher(config, DEVICE_ID, self.outbox, self.registry)
        self.publisher.start()
        self.images: dict[int, bytes] = {}

    def append(self, pairs: int) -> None:
        for _ in range(pairs):
            start, data = with_image(self.outbox.last_seq + 1)
            end = dataclasses.replace(event(self.outbox.last_seq + 2), kind=AlertKind.END)
            alerts = self.outbox.append_many([start, end], [data, None])
            self.images[alerts[0].seq] = data

    def close(self) -> None:
        self.publisher.stop()
        self.outbox.close()


@pytest.fixture
def device(tmp_path: Path, broker: Mosquitto) -> Iterator[Device]:
    running = Device(tmp_path / "state", broker.url)
    yield running
    running.close()


@pytest.fixture
def images(broker: Mosquitto) -> Iterator[ImageCollector]:
    collector = ImageCollector(broker.port)
    yield collector
    collector.close()


@pytest.fixture
def alerts(broker: Mosquitto) -> Iterator[AlertCollector]:
    collector = AlertCollector(broker.port, ALERTS)
    yield collector
    collector.close()


def test_each_image_goes_with_its_alert_and_is_marked_delivered_on_its_puback(
    device: Device, images: ImageCollector, alerts: AlertCollector
) -> None:
    device.append(20)
    alerts.wait_for(40)
    wait_until(lambda: len(images.held()) == 20, what="every image")
    alerts.assert_complete(40, device.key)
    # Every image is the bytes its signed alert names, on the topic of that alert's seq, not retained
    assert images.held() == device.images
    for seq, data in images.held().items():
        named = decode_alert(alerts.payloads[seq]).event.evidence
        assert named is not None
        assert named.sha256 == hashlib.sha256(data).hexdigest()
    assert images.retained == 0
    wait_until(lambda: device.outbox.stats().evidence_pending == 0, what="every image's PUBACK")
    # Counted on the publisher's thread once the outbox has marked them
    wait_until(
        lambda: device.registry.get_sample_value("edge_gateway_mqtt_evidence_delivered_total") == 20,
        what="every image counted",
    )


def test_images_wait_out_a_broker_outage(
    broker: Mosquitto, device: Device, images: ImageCollector, alerts: AlertCollector
) -> None:
    device.append(5)
    wait_until(lambda: len(images.held()) == 5, what="the first images")
    broker.stop()
    device.append(30)
    assert device.outbox.stats().evidence_pending >= 30
    time.sleep(1.0)
    broker.start()
    alerts.wait_for(70, timeout_s=60)
    wait_until(lambda: len(images.held()) == 35, timeout_s=60, what="every image")
    assert images.held() == device.images
    wait_until(lambda: device.outbox.stats().evidence_pending == 0, what="every image's PUBACK")


def test_a_replay_republishes_the_range_s_alerts_and_images_byte_identical(
    broker: Mosquitto, device: Device, images: ImageCollector, alerts: AlertCollector
) -> None:
    device.append(10)
    alerts.wait_for(20)
    wait_until(lambda: len(images.held()) == 10, what="every image")
    originals = dict(alerts.payloads)
    # Given subscribers that join late, when the range 5..12 is asked for
    late_alerts, late_images = AlertCollector(broker.port, ALERTS), ImageCollector(broker.port)
    try:
        asking = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        asking.connect("127.0.0.1", broker.port)
        asking.loop_start()
        request = json.dumps({"from_seq": 5, "to_seq": 12})
        asking.publish(f"edge/{DEVICE_ID}/replay", request, qos=1).wait_for_publish(5)
        close_client(asking)
        # Then exactly those alerts come again, and the images of the starts among them
        wait_until(lambda: len(late_alerts.payloads) >= 8, what="replayed alerts")
        wait_until(lambda: len(late_images.held()) >= 4, what="replayed images")
        time.sleep(0.3)
        assert late_alerts.payloads == {seq: originals[seq] for seq in range(5, 13)}
        assert late_images.held() == {seq: device.images[seq] for seq in (5, 7, 9, 11)}
    finally:
        late_alerts.close()
        late_images.close()
