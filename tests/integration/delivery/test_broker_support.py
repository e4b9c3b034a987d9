"""The test broker itself: anonymous, password and TLS modes accept a real client; restart keeps the port."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from gateway.protocol.mqtt_link import close_client
from tests.support.mosquitto import Mosquitto


def connect(broker: Mosquitto, username: str | None = None, password: str | None = None) -> str:
    """Connect once and return the CONNACK reason code's name."""
    done = threading.Event()
    outcome: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    if broker.tls is not None:
        client.tls_set(ca_certs=str(broker.tls.ca_file), cert_reqs=ssl.CERT_REQUIRED)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        outcome.append(str(reason))
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        close_client(client)
    return outcome[0]


def test_anonymous_broker_restarts_on_the_same_port(tmp_path: Path) -> None:
    with Mosquitto(tmp_path) as broker:
        assert connect(broker) == "Success"
        port = broker.port
        broker.restart()
        assert broker.port == port
        assert connect(broker) == "Success"


@pytest.mark.parametrize(("password", "expected"), [("secret", "Success"), ("wrong", "Not authorized")])
def test_password_file(tmp_path: Path, password: str, expected: str) -> None:
    with Mosquitto(tmp_path, users={"gateway": "secret"}, tls=True) as broker:
        assert broker.url.startswith("mqtts://")
        assert connect(broker, "gateway", password) == expected
