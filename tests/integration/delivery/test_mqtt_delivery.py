"""The publisher against a real mosquitto: restarts, outages, SIGKILL, TLS, passwords, replay.

After each, a persistent-session QoS 1 subscriber must hold every seq exactly once, chained and signed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt import MqttPublisher, parse_replay_request
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import DeliveryState
from gateway.errors import BrokerError
from gateway.protocol.mqtt_link import close_client
from tests.integration.delivery.publisher_process import DEVICE_ID, event
from tests.support.alert_collector import AlertCollector
from tests.support.mosquitto import Mosquitto

ALERTS = f"edge/{DEVICE_ID}/alerts"
ROOT = Path(__file__).resolve().parents[3]


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Gateway:
    """Outbox + publisher in this process."""

    def __init__(self, state_dir: Path, url: str, **mqtt: object) -> None:
        self.key = load_or_create_key(state_dir)
        self.outbox = Outbox(state_dir, DEVICE_ID, self.key)
        settings: dict[str, object] = {
            "url": url,
            "max_inflight": 16,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        }
        self.config = MqttConfig.model_validate({**settings, **mqtt})
        self.publisher = MqttPublisher(self.config, DEVICE_ID, self.outbox, CollectorRegistry())
        self.publisher.start()
        self.appended = 0

    def append(self, count: int, batch: int = 25, pause_s: float = 0.0) -> None:
        while count > 0:
            size = min(batch, count)
            self.outbox.append_many([event(self.appended + index) for index in range(size)])
            self.appended += size
            count -= size
            time.sleep(pause_s)

    def close(self) -> None:
        self.publisher.stop()
        self.outbox.close()


@pytest.fixture
def collector(broker: Mosquitto) -> Iterator[AlertCollector]:
    subscriber = AlertCollector(broker.port, ALERTS)
    yield subscriber
    subscriber.close()


@pytest.fixture
def gateway(tmp_path: Path, broker: Mosquitto) -> Iterator[Gateway]:
    running = Gateway(tmp_path / "state", broker.url)
    yield running
    running.close()


def test_broker_restarted_in_the_middle_of_a_stream(
    broker: Mosquitto, collector: AlertCollector, gateway: Gateway
) -> None:
    # The producer's second half waits for the restart, so the restart lands mid-stream however
    # slowly a loaded machine delivers the first alerts (a producer timed by sleeps alone could be
    # done before the 300th arrived).
    restarted = threading.Event()

    def produce() -> None:
        gateway.append(600, 25, 0.01)
        restarted.wait(60)
        gateway.append(900, 25, 0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    wait_until(lambda: len(collector.payloads) >= 300, what="first alerts")
    broker.restart()
    restarted.set()
    producer.join()
    collector.wait_for(1500, timeout_s=60)
    collector.assert_complete(1500, gateway.key)
    wait_until(lambda: gateway.outbox.stats().pending == 0, what="all PUBACKs")


def test_broker_down_for_a_while_then_back(
    broker: Mosquitto, collector: AlertCollector, gateway: Gateway
) -> None:
    gateway.append(200)
    collector.wait_for(200)
    broker.stop()
    gateway.append(500)
    wait_until(lambda: gateway.publisher.status().state is DeliveryState.RECONNECTING, what="reconnecting")
    assert gateway.outbox.stats().pending >= 500
    time.sleep(1.0)
    broker.start()
    collector.wait_for(700, timeout_s=60)
    collector.assert_complete(700, gateway.key)
    wait_until(lambda: gateway.publisher.status().state is DeliveryState.CONNECTED, what="connected")
    wait_until(lambda: gateway.outbox.stats().pending == 0, what="all PUBACKs")


def test_gateway_sigkilled_mid_publish_then_restarted(
    tmp_path: Path, broker: Mosquitto, collector: AlertCollector
) -> None:
    state_dir = tmp_path / "state"
    command = [
        sys.executable,
        "-m",
        "tests.integration.delivery.publisher_process",
        str(state_dir),
        broker.url,
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    told = tmp_path / "told.txt"
    with told.open("w") as output:
        # Its appends wait on delivery: a machine that delivers slower than it appends still kills
        # it among them, not after its last.
        first = subprocess.Popen(
            [*command, "3000", "--most-pending", "200"], cwd=ROOT, env=environment, stdout=output
        )
        try:
            wait_until(lambda: len(collector.payloads) >= 300, what="alerts from the first process")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    outbox = Outbox(state_dir, DEVICE_ID, load_or_create_key(state_dir))
    committed = outbox.last_seq
    outbox.close()
    assert 300 <= committed < 3000, "the kill must land mid-stream"
    # Every alert the process was told about (append returned) survived the kill.
    last_told = max(
        int(line.split()[1]) for line in told.read_text().splitlines() if line.startswith("committed")
    )
    assert last_told <= committed
    # Given a restart that adds 100 more, seq continues and the unacknowledged ones are sent again.
    second = subprocess.run(
        [*command, "100"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert second.returncode == 0, second.stderr
    assert "drained" in second.stdout
    collector.wait_for(committed + 100)
    collector.assert_complete(committed + 100, load_or_create_key(state_dir))


def retained(port: int, topic: str, **tls: object) -> dict[str, object]:
    received: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        done.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10), f"no retained message on {topic}"
    finally:
        close_client(client)
    result: dict[str, object] = json.loads(received[0])
    return result


def test_status_and_camera_state_are_retained(broker: Mosquitto, tmp_path: Path) -> None:
    running = Gateway(tmp_path / "state", broker.url)
    wait_until(lambda: running.publisher.status().state is DeliveryState.CONNECTED, what="connected")
    assert retained(broker.port, f"edge/{DEVICE_ID}/status")["state"] == "online"
    running.publisher.publish_camera_state("gate", "streaming", 4.9)
    camera = retained(broker.port, f"edge/{DEVICE_ID}/cameras/gate/state")
    assert camera["state"] == "streaming"
    assert camera["fps"] == 4.9
    running.close()
    assert running.publisher.status().state is DeliveryState.STOPPED
    assert retained(broker.port, f"edge/{DEVICE_ID}/status")["state"] == "offline"


def test_tls_with_a_password_and_mqtt_3_1_1(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker", users={"gateway": "s3cret", "cloud": "other"}, tls=True) as broker:
        assert broker.tls is not None
        password_file = tmp_path / "password"
        password_file.write_text("s3cret\n")
        subscriber = AlertCollector(
            broker.port, ALERTS, ca_file=broker.tls.ca_file, username="cloud", password="other"
        )
        running = Gateway(
            tmp_path / "state",
            broker.url,
            ca_file=broker.tls.ca_file,
            username="gateway",
            password_file=password_file,
            protocol="3.1.1",
        )
        try:
            running.append(100)
            subscriber.wait_for(100)
            subscriber.assert_complete(100, running.key)
            assert running.publisher.status().last_error is None
        finally:
            running.close()
            subscriber.close()


def test_client_certificate(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker", tls=True, require_client_cert=True) as broker:
        assert broker.tls is not None
        tls = broker.tls
        subscriber = AlertCollector(
            broker.port, ALERTS, ca_file=tls.ca_file, client_cert=(tls.client_cert, tls.client_key)
        )
        running = Gateway(
            tmp_path / "state",
            broker.url,
            ca_file=tls.ca_file,
            cert_file=tls.client_cert,
            key_file=tls.client_key,
        )
        try:
            running.append(20)
            subscriber.wait_for(20)
            subscriber.assert_complete(20, running.key)
        finally:
            running.close()
            subscriber.close()


def test_wrong_password_is_a_clear_error_and_alerts_keep_accumulating(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Mosquitto(tmp_path / "broker", users={"gateway": "s3cret"}) as broker:
        password_file = tmp_path / "password"
        password_file.write_text("wrong\n")
        caplog.set_level(logging.ERROR, logger="gateway.delivery.mqtt")
        running = Gateway(tmp_path / "state", broker.url, username="gateway", password_file=password_file)
        try:
            wait_until(lambda: running.publisher.status().state is DeliveryState.REFUSED, what="refused")
            status = running.publisher.status()
            assert status.last_error is not None
            assert "refused the connection: Not authorized" in status.last_error
            assert "password_file" in status.last_error
            # Logged on paho's thread just after the state is set: waited for, not raced.
            wait_until(
                lambda: any("refused the connection" in record.getMessage() for record in caplog.records),
                what="the refusal logged",
            )
            assert "wrong" not in caplog.text  # the password is never logged
            running.append(50)
            time.sleep(0.5)
            assert running.outbox.stats().pending == 50
            assert running.publisher.status().state is DeliveryState.REFUSED
        finally:
            running.close()


def test_replay_republishes_a_range_byte_identical(
    broker: Mosquitto, collector: AlertCollector, gateway: Gateway
) -> None:
    gateway.append(30)
    collector.wait_for(30)
    originals = dict(collector.payloads)
    # Given a second subscriber that joins late, when it asks for 5..9, it gets exactly those bytes.
    late = AlertCollector(broker.port, ALERTS)
    try:
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        publisher.publish(
            f"edge/{DEVICE_ID}/replay", json.dumps({"from_seq": 5, "to_seq": 9}), qos=1
        ).wait_for_publish(5)
        publisher.publish(f"edge/{DEVICE_ID}/replay", b"not json", qos=1).wait_for_publish(5)
        close_client(publisher)
        wait_until(lambda: len(late.payloads) >= 5, what="replayed alerts")
        time.sleep(0.3)
        assert late.payloads == {seq: originals[seq] for seq in range(5, 10)}
    finally:
        late.close()


def test_a_replay_request_past_any_seq_is_refused_and_delivery_goes_on(
    broker: Mosquitto, collector: AlertCollector, gateway: Gateway
) -> None:
    gateway.append(3)
    collector.wait_for(3)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    # Beyond a 64-bit seq: the outbox's query once failed on it and the publisher thread ended.
    huge = json.dumps({"from_seq": 2**70, "to_seq": 2**70 + 1})
    publisher.publish(f"edge/{DEVICE_ID}/replay", huge, qos=1).wait_for_publish(5)
    close_client(publisher)
    time.sleep(0.5)
    gateway.append(3)
    collector.wait_for(6)
    assert gateway.publisher.alive
    assert gateway.publisher.status().state is DeliveryState.CONNECTED


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'{"from_seq": 0, "to_seq": 3}',
        b'{"from_seq": 5, "to_seq": 4}',
        b'{"from_seq": "1"}',
        b'{"from_seq": 9223372036854775807, "to_seq": 9223372036854775808}',
    ],
)
def test_bad_replay_requests_are_refused(payload: bytes) -> None:
    with pytest.raises(BrokerError, match="replay request"):
        parse_replay_request(payload)
