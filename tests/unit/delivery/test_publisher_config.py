from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig, parse_config
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.domain import DeliveryState
from gateway.errors import BrokerError
from gateway.protocol.mqtt_link import broker_address, make_client


def test_topics_follow_the_contract(tmp_path: Path) -> None:
    config = parse_config(
        f"device_id: box-1\nstate_dir: {tmp_path}\n"
        "mqtt: {url: 'mqtt://127.0.0.1:1', topic_prefix: site/a}\n"
    )
    outbox = Outbox.from_config(config)
    assert config.mqtt is not None
    publisher = MqttPublisher(config.mqtt, config.device_id, outbox, CollectorRegistry())
    assert publisher.alerts_topic == "site/a/box-1/alerts"
    assert publisher.status_topic == "site/a/box-1/status"
    assert publisher.replay_topic == "site/a/box-1/replay"
    status = publisher.status()
    assert (status.state, status.last_error, status.broker) == (
        DeliveryState.CONNECTING,
        None,
        "mqtt://127.0.0.1:1",
    )
    outbox.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker", "mqtt://broker:1883"),
        ("mqtts://broker", "mqtts://broker:8883"),
        ("mqtts://user:secret@broker:9999", "mqtts://broker:9999"),
    ],
)
def test_broker_address_defaults_ports_and_drops_credentials(url: str, expected: str) -> None:
    assert str(broker_address(url)) == expected


def test_unreadable_password_file_is_a_broker_error(tmp_path: Path) -> None:
    config = MqttConfig(url="mqtt://127.0.0.1", username="gw", password_file=tmp_path / "missing")
    with pytest.raises(BrokerError, match="password_file"):
        make_client(config, "client")
