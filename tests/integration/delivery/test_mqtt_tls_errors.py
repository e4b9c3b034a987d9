"""The gateway's publisher and ``audit serve``'s subscriber name why a TLS connection to a real
mosquitto fails, once per cause, in the log and in their status.

paho reports only that the connect failed; their own handshake (``gateway.protocol.mqtt_tls``) says
which check refused the broker's certificate.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.audit.subscriber import AuditSubscriber
from gateway.config import AuditConfig, MqttConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import DeliveryState
from tests.integration.delivery.publisher_process import DEVICE_ID
from tests.support.audit_device import wait_until
from tests.support.mosquitto import Mosquitto, make_tls_files

pytestmark = pytest.mark.filterwarnings(
    # paho does not close the socket of a TLS handshake that fails (Client._ssl_wrap_socket raises
    # past it); the garbage collector does, with a ResourceWarning for each connect attempt.
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)


@dataclass(frozen=True, slots=True)
class Client:
    """What the tests read of the client under test: the error in its status, and whether it is
    connected."""

    last_error: Callable[[], str | None]
    connected: Callable[[], bool]


Connecting = Callable[[Path, str, Path], AbstractContextManager[Client]]
"""(directory, broker url, mqtt.ca_file) -> a started client, stopped on exit."""


@contextmanager
def publishing(state_dir: Path, url: str, ca_file: Path) -> Iterator[Client]:
    outbox = Outbox(state_dir, DEVICE_ID, load_or_create_key(state_dir))
    config = MqttConfig.model_validate(
        {"url": url, "ca_file": str(ca_file), "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}
    )
    publisher = MqttPublisher(config, DEVICE_ID, outbox, CollectorRegistry())
    publisher.start()
    try:
        yield Client(
            lambda: publisher.status().last_error,
            lambda: publisher.status().state is DeliveryState.CONNECTED,
        )
    finally:
        publisher.stop()
        outbox.close()


@contextmanager
def subscribing(directory: Path, url: str, ca_file: Path) -> Iterator[Client]:
    """``audit serve``'s subscriber; its ``last_error`` is the line ``systemctl status`` shows."""
    directory.mkdir()
    keys_file = directory / "keys.yaml"
    keys_file.write_text(f"{DEVICE_ID}: {'00' * 32}\n")
    mqtt = {"url": url, "ca_file": str(ca_file), "reconnect_min_s": 1, "reconnect_max_s": 1}
    config = AuditConfig.model_validate(
        {"mqtt": mqtt, "database": f"sqlite:///{directory}/audit.db", "keys_file": str(keys_file)}
    )
    store = AuditStore.open(config.database, {})
    subscriber = AuditSubscriber(config, store, CollectorRegistry())
    subscriber.start()
    try:
        yield Client(lambda: subscriber.last_error, lambda: subscriber.connected)
    finally:
        subscriber.stop()
        store.close()


@pytest.fixture(params=["gateway", "audit"])
def connecting(request: pytest.FixtureRequest) -> Connecting:
    return publishing if request.param == "gateway" else subscribing


def connect_errors(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and words in record.getMessage()
    ]


def connections(broker: Mosquitto) -> int:
    return broker.log().count("New connection from")


def test_a_broker_certificate_from_another_ca_is_named_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, connecting: Connecting
) -> None:
    # Given a TLS broker whose certificate comes from its own CA, and a client trusting another CA
    other = make_tls_files(tmp_path / "other-ca")
    broker = Mosquitto(tmp_path / "broker", tls=True)
    with broker, connecting(tmp_path / "client", broker.url, other.ca_file) as client:
        # When it fails to connect, several times over
        wait_until(lambda: bool(connect_errors(caplog, "certificate verify failed")), timeout_s=15)
        wait_until(lambda: connections(broker) >= 8, timeout_s=15)
        last_error, connected = client.last_error(), client.connected()

    # Then the error names the verification failure and the CA file, logged once for all the retries
    (message,) = connect_errors(caplog, "certificate verify failed")
    # (mosquitto sends its CA with its certificate: OpenSSL says "self-signed certificate in chain")
    assert "self-signed certificate in certificate chain" in message
    assert f"not signed by a CA in mqtt.ca_file {other.ca_file}" in message
    # and its status says the same
    assert not connected
    assert last_error is not None
    assert last_error in message


def test_a_broker_certificate_for_another_host_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, connecting: Connecting
) -> None:
    # Given a TLS broker whose certificate (from the trusted CA) names another host than 127.0.0.1
    broker = Mosquitto(tmp_path / "broker", tls=True)
    assert broker.tls is not None
    reissue_server_certificate(broker.tls.ca_file.parent, "broker.invalid")
    with broker, connecting(tmp_path / "client", broker.url, broker.tls.ca_file) as client:
        # When the client connects, then the error says the certificate does not name the host
        wait_until(lambda: bool(connect_errors(caplog, "certificate verify failed")), timeout_s=15)
        last_error = client.last_error()
    (message,) = connect_errors(caplog, "certificate verify failed")
    assert "mismatch" in message
    assert "does not name 127.0.0.1, the host in mqtt.url" in message
    assert last_error is not None
    assert "mismatch" in last_error


def reissue_server_certificate(directory: Path, host: str) -> None:
    """Replace ``server.crt``/``server.key`` in ``directory`` by a certificate for ``host`` only,
    signed by the CA there."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    (directory / "server.ext").write_text(f"subjectAltName=DNS:{host}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", "server.ext")  # fmt: skip
