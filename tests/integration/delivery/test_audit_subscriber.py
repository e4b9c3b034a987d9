"""The audit subscriber against a real mosquitto: shared group, persistent session, replay of gaps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.audit.subscriber import AuditSubscriber
from gateway.audit.verify import verify_store
from gateway.cli import main
from gateway.config import AuditConfig
from gateway.errors import AuditError
from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.audit_device import AlertChain, MqttDevice, connect_client, wait_until
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.postgres import PostgresServer

DEVICE = "cam-box-1"
KEY = bytes(range(32))
KEYS = {DEVICE: KEY}


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(f"{DEVICE}: {KEY.hex()}\n")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/audit.db"


def audit_config(url: str, database: str, keys_file: Path, **overrides: Any) -> AuditConfig:
    mqtt = {"url": url, "reconnect_min_s": 1, "reconnect_max_s": 1, **overrides.pop("mqtt", {})}
    settings = {"mqtt": mqtt, "database": database, "keys_file": str(keys_file), **overrides}
    return AuditConfig.model_validate(settings)


class Running:
    """A started subscriber with its own store and registry; ``close()`` stops both."""

    def __init__(self, config: AuditConfig) -> None:
        self.registry = CollectorRegistry()
        self.store = AuditStore.open(config.database, KEYS)
        self.subscriber = AuditSubscriber(config, self.store, self.registry)
        self.subscriber.start()

    def handled(self, outcome: str) -> float:
        return (
            self.registry.get_sample_value("edge_gateway_audit_messages_total", {"outcome": outcome}) or 0.0
        )

    def close(self) -> None:
        self.subscriber.stop()
        self.store.close()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for subscriber in started:
        subscriber.close()


def start(started: list[Running], config: AuditConfig) -> Running:
    subscriber = Running(config)
    started.append(subscriber)
    assert subscriber.subscriber.wait_subscribed(10), subscriber.subscriber.last_error
    return subscriber


def stored_seqs(database: str) -> list[int]:
    checker = AuditStore.open(database, KEYS)
    try:
        return [alert.seq for alert in checker.alerts(DEVICE)]
    finally:
        checker.close()


def wait_for_stored(database: str, count: int, timeout_s: float = 20.0) -> None:
    wait_until(lambda: len(stored_seqs(database)) >= count, timeout_s)
    assert stored_seqs(database) == list(range(1, count + 1))


@pytest.fixture
def device(broker: Mosquitto) -> Iterator[MqttDevice]:
    made = MqttDevice(broker.url, AlertChain(DEVICE, KEY))
    yield made
    made.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_stream_is_stored_once_and_verifies(
    *,
    backend: str,
    request: pytest.FixtureRequest,
    broker: Mosquitto,
    device: MqttDevice,
    keys_file: Path,
    sqlite_url: str,
    running: list[Running],
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres").create_database()
    subscriber = start(running, audit_config(broker.url, database, keys_file))

    device.publish(range(1, 301))

    wait_for_stored(database, 300)
    wait_until(lambda: subscriber.handled("stored") == 300)
    assert subscriber.handled("duplicate") == subscriber.handled("rejected") == 0
    assert main(["audit", "verify", "--db", database, "--keys", str(keys_file)]) == 0
    assert f"{DEVICE}: 300 alerts, seq 1..300, signatures checked: ok" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_subscribers_in_one_share_group_store_every_alert_once(
    *,
    backend: str,
    request: pytest.FixtureRequest,
    broker: Mosquitto,
    device: MqttDevice,
    keys_file: Path,
    sqlite_url: str,
    running: list[Running],
) -> None:
    database = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres").create_database()
    first = start(running, audit_config(broker.url, database, keys_file, client_id="audit-a"))
    second = start(running, audit_config(broker.url, database, keys_file, client_id="audit-b"))

    device.publish(range(1, 401))

    wait_for_stored(database, 400)
    wait_until(lambda: first.handled("stored") + second.handled("stored") == 400)
    # The group split the stream: each instance stored part of it and nobody saw a copy.
    assert first.handled("stored") > 0
    assert second.handled("stored") > 0
    assert first.handled("duplicate") + second.handled("duplicate") == 0
    checker = AuditStore.open(database, KEYS)
    try:
        assert verify_store(checker, KEYS).ok
    finally:
        checker.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_alerts_sent_while_the_subscriber_is_offline_arrive_when_it_returns(
    *,
    protocol: str,
    broker: Mosquitto,
    device: MqttDevice,
    keys_file: Path,
    sqlite_url: str,
    running: list[Running],
) -> None:
    config = audit_config(broker.url, sqlite_url, keys_file, mqtt={"protocol": protocol})
    first = start(running, config)
    device.publish(range(1, 51))
    wait_for_stored(sqlite_url, 50)
    first.close()
    running.remove(first)

    # While it is away the broker queues for its persistent session (and survives a restart).
    device.publish(range(51, 251))
    broker.restart()
    wait_until(lambda: device_connected(device))

    start(running, config)
    wait_for_stored(sqlite_url, 250)


def test_a_share_group_member_that_leaves_for_a_while_gets_its_share_when_it_returns(
    broker: Mosquitto, device: MqttDevice, keys_file: Path, sqlite_url: str, running: list[Running]
) -> None:
    # mosquitto keeps handing an offline member with a persistent session its turn of a shared
    # subscription; those alerts wait in its session (replay is pushed out of the way here).
    first = start(running, audit_config(broker.url, sqlite_url, keys_file, client_id="a", replay_after_s=600))
    second_config = audit_config(broker.url, sqlite_url, keys_file, client_id="b", replay_after_s=600)
    second = start(running, second_config)
    device.publish(range(1, 101))
    wait_for_stored(sqlite_url, 100)
    second.close()
    running.remove(second)

    device.publish(range(101, 201))
    wait_until(lambda: first.handled("stored") + second.handled("stored") >= 150)
    assert len(stored_seqs(sqlite_url)) < 200

    start(running, second_config)
    wait_for_stored(sqlite_url, 200)


def test_a_retiring_member_leaves_the_group_and_stores_its_share_before_its_session_ends(
    broker: Mosquitto, device: MqttDevice, keys_file: Path, sqlite_url: str, running: list[Running]
) -> None:
    # Given two members, the second keeping no session (retiring), and replay pushed out of the way
    # so that only what the broker delivers counts
    start(running, audit_config(broker.url, sqlite_url, keys_file, client_id="a", replay_after_s=600))
    retiring = start(
        running,
        audit_config(
            broker.url, sqlite_url, keys_file, client_id="b", replay_after_s=600, session_expiry_s=0
        ),
    )
    device.publish(range(1, 101))
    wait_for_stored(sqlite_url, 100)
    assert retiring.handled("stored") > 0

    # When it stops while alerts are flowing (ten at a time, for about two seconds)
    def publish_paced() -> None:
        for first in range(101, 601, 10):
            device.publish(range(first, first + 10))
            time.sleep(0.02)

    publishing = threading.Thread(target=publish_paced)
    publishing.start()
    time.sleep(0.5)
    retiring.close()
    running.remove(retiring)
    publishing.join(60)

    # Then nothing it had been handed is lost with its session, and the group is the first member's
    wait_for_stored(sqlite_url, 600)
    device.publish(range(601, 701))
    wait_for_stored(sqlite_url, 700)
    assert device.replay_requests == []


def device_connected(device: MqttDevice) -> bool:
    return bool(device._client.is_connected())


def test_a_broker_restart_mid_stream_loses_nothing(
    broker: Mosquitto, device: MqttDevice, keys_file: Path, sqlite_url: str, running: list[Running]
) -> None:
    subscriber = start(running, audit_config(broker.url, sqlite_url, keys_file))
    device.publish(range(1, 101))
    broker.restart()
    wait_until(lambda: device_connected(device) and subscriber.subscriber.connected)
    device.publish(range(101, 201))
    wait_for_stored(sqlite_url, 200)


def test_a_subscriber_side_gap_is_healed_by_replay(
    broker: Mosquitto, device: MqttDevice, keys_file: Path, sqlite_url: str, running: list[Running]
) -> None:
    subscriber = start(running, audit_config(broker.url, sqlite_url, keys_file, replay_after_s=0.3))

    # Given seq 4, 5 and 9 never reached the broker
    device.publish([1, 2, 3, 6, 7, 8, 10, 11, 12])

    # Then the subscriber asks for them and the device's byte-identical replay fills the gaps
    wait_for_stored(sqlite_url, 12)
    assert sorted(device.replay_requests)[:2] == [(4, 5), (9, 9)]
    assert subscriber.handled("rejected") == 0
    assert (subscriber.registry.get_sample_value("edge_gateway_audit_replay_requests_total") or 0) >= 2


def test_a_tampered_alert_on_the_wire_is_rejected_and_recorded(
    broker: Mosquitto, device: MqttDevice, keys_file: Path, sqlite_url: str, running: list[Running]
) -> None:
    subscriber = start(running, audit_config(broker.url, sqlite_url, keys_file))
    device.publish(range(1, 4))
    data = json.loads(device.chain.payload(3))
    data["label"] = "cat"
    attacker = connect_client(broker.url, "attacker")
    try:
        attacker.publish(device.chain.topic, json.dumps(data), qos=1).wait_for_publish(10)
    finally:
        attacker.disconnect()
        attacker.loop_stop()

    wait_until(lambda: subscriber.handled("rejected") == 1)
    assert stored_seqs(sqlite_url) == [1, 2, 3]
    (entry,) = subscriber.store.rejected()
    assert entry.reason.startswith("hash:")
    assert subscriber.registry.get_sample_value("edge_gateway_audit_rejected_total", {"reason": "hash"}) == 1


def test_tls_and_password_work_and_a_wrong_password_is_a_clear_error(
    tmp_path: Path, keys_file: Path, sqlite_url: str
) -> None:
    with Mosquitto(tmp_path / "secure", users={"audit": "s3cret"}, tls=True) as secure:
        assert secure.tls is not None
        password = tmp_path / "password"
        password.write_text("s3cret\n")
        tls = {"username": "audit", "password_file": str(password), "ca_file": str(secure.tls.ca_file)}
        started: list[Running] = []
        try:
            start(started, audit_config(secure.url, sqlite_url, keys_file, mqtt=tls))
            chain = AlertChain(DEVICE, KEY)
            device = MqttDevice(
                secure.url, chain, username="audit", password="s3cret", ca_file=secure.tls.ca_file
            )
            try:
                device.publish(range(1, 11))
            finally:
                device.close()
            wait_for_stored(sqlite_url, 10)

            password.write_text("wrong\n")
            refused = Running(
                audit_config(secure.url, sqlite_url, keys_file, mqtt=tls, client_id="audit-wrong")
            )
            started.append(refused)
            wait_until(lambda: refused.subscriber.last_error is not None, 10)
            assert not refused.subscriber.connected
            assert refused.subscriber.last_error == (
                "the broker refused the connection: Not authorized "
                "(check mqtt.username and mqtt.password_file)"
            )
        finally:
            for subscriber in started:
                subscriber.close()


def test_audit_serve_runs_until_sigterm_and_stops_cleanly(
    tmp_path: Path, broker: Mosquitto, device: MqttDevice, keys_file: Path, sqlite_url: str
) -> None:
    config_file = tmp_path / "audit.yaml"
    metrics_port = free_port()
    config_file.write_text(
        f"mqtt: {{url: '{broker.url}', reconnect_min_s: 1}}\n"
        f"database: '{sqlite_url}'\nkeys_file: '{keys_file}'\nmetrics_port: {metrics_port}\n"
    )
    log_file = tmp_path / "serve.log"
    listener = NotifyListener(tmp_path / "notify.sock")
    process = serve(config_file, log_file, listener.environment_value)
    try:
        ready, _ = listener.wait_for("READY", 20)
        assert ready.fields["STATUS"] == f"connecting to {broker.url}"
        statuses = [listener.wait_for("STATUS", 20)[0].fields["STATUS"]]
        while statuses[-1] != "subscribed to $share/audit/edge/+/alerts" and len(statuses) < 4:
            statuses.append(listener.wait_for("STATUS", 20)[0].fields["STATUS"])
        assert statuses[-1] == "subscribed to $share/audit/edge/+/alerts", statuses
        device.publish(range(1, 21))
        wait_for_stored(sqlite_url, 20)

        def metrics() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
                return str(response.read().decode())

        # Counted just after the commit that made them visible in the database.
        wait_until(lambda: 'edge_gateway_audit_messages_total{outcome="stored"} 20.0' in metrics())
        assert "edge_gateway_audit_connected 1.0" in metrics()

        process.send_signal(signal.SIGTERM)
        listener.wait_for("STOPPING", 10)
        process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        listener.close()
    output = log_file.read_text()
    assert process.returncode == 0, output
    assert "SIGTERM received, stopping" in output
    assert "audit: stopped" in output


def test_a_dropped_database_connection_is_retried_and_loses_nothing(
    postgres: PostgresServer, broker: Mosquitto, device: MqttDevice, keys_file: Path, running: list[Running]
) -> None:
    database = postgres.create_database()
    subscriber = start(running, audit_config(broker.url, database, keys_file))
    device.publish(range(1, 51))
    wait_for_stored(database, 50)

    # The database drops every other session (a failover, an admin, a restart).
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    device.publish(range(51, 101))

    wait_for_stored(database, 100)
    assert (subscriber.registry.get_sample_value("edge_gateway_audit_store_errors_total") or 0) >= 1
    wait_until(lambda: subscriber.handled("stored") == 100)
    assert subscriber.subscriber.last_error is None


def serve(config_file: Path, log_file: Path, notify_socket: str | None = None) -> subprocess.Popen[bytes]:
    environment = dict(os.environ)
    if notify_socket is not None:
        environment["NOTIFY_SOCKET"] = notify_socket
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "audit", "serve", "--config", str(config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[3],
            env=environment,
        )


def test_a_subscriber_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, broker: Mosquitto, device: MqttDevice, keys_file: Path, sqlite_url: str
) -> None:
    config_file = tmp_path / "audit.yaml"
    config_file.write_text(
        f"mqtt: {{url: '{broker.url}', reconnect_min_s: 1}}\n"
        f"database: '{sqlite_url}'\nkeys_file: '{keys_file}'\nmax_batch: 16\n"
    )
    log_file = tmp_path / "serve.log"
    process = serve(config_file, log_file)
    try:
        wait_until(lambda: "audit: subscribed to" in log_file.read_text(), 20)
        publisher = threading.Thread(target=device.publish, args=(range(1, 1001),), name="device-publish")
        publisher.start()
        # SIGKILL while alerts are arriving: some are stored but not yet acknowledged.
        wait_until(lambda: len(stored_seqs(sqlite_url)) >= 100, 20, interval_s=0.01)
        process.kill()
        process.wait(10)
        publisher.join(30)
        process = serve(config_file, log_file)
        wait_for_stored(sqlite_url, 1000, timeout_s=40)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    assert main(["audit", "verify", "--db", sqlite_url, "--keys", str(keys_file)]) == 0


def test_unusable_tls_files_are_a_clear_error(tmp_path: Path, keys_file: Path, sqlite_url: str) -> None:
    config = audit_config(
        "mqtts://127.0.0.1:1", sqlite_url, keys_file, mqtt={"ca_file": str(tmp_path / "no.pem")}
    )
    store = AuditStore.open(sqlite_url, KEYS)
    try:
        with pytest.raises(AuditError, match=r"cannot set up TLS for mqtts://127.0.0.1:1: .*No such file"):
            AuditSubscriber(config, store, CollectorRegistry())
    finally:
        store.close()


def test_a_failure_other_than_the_database_s_ends_storing_and_says_why(
    *,
    broker: Mosquitto,
    device: MqttDevice,
    keys_file: Path,
    sqlite_url: str,
    running: list[Running],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subscriber = start(running, audit_config(broker.url, sqlite_url, keys_file))

    def fails(messages: object) -> object:
        raise RuntimeError("a bug in ingest")

    # Standing in for a bug: the database's own errors are retried, anything else is not.
    monkeypatch.setattr(subscriber.store, "ingest", fails)
    device.publish(range(1, 3))

    wait_until(lambda: not subscriber.subscriber.storing)
    assert subscriber.subscriber.last_error == "storing failed: a bug in ingest"
    assert stored_seqs(sqlite_url) == []
