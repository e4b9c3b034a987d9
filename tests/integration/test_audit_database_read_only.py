"""A PostgreSQL database made read-only while ``audit serve`` runs, then writable again: what the
devices sent meanwhile is stored once it is, every alert exactly once. A real PostgreSQL and
mosquitto.

A session's read-only default (``default_transaction_read_only``, which a managed PostgreSQL sets
while its disk is full and an operator sets while they work) is fixed when the session starts. The
subscriber kept the session it had reconnected on while the database was read-only, so every retry
was refused for ever after the database was writable again, and nothing more was stored until
``audit serve`` was restarted. A write refused as read-only now ends the session, and the retry
starts a new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway.audit.store import AuditStore
from gateway.audit.verify import verify_store
from tests.integration.audit_serve_process import Service
from tests.support.audit_device import AlertChain, MqttDevice, connect_client, wait_until
from tests.support.audit_service import audit_service
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))
DEVICE = "box-1"
WAIT_S = 60.0


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def read_only(postgres: PostgresServer, database: str, *, on: bool) -> None:
    """Set the database's read-only default; when setting it, end its sessions, as a failover or a
    server restart does, so that the subscriber's next one starts read-only."""
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        connection.execute(
            f"ALTER DATABASE {database} SET default_transaction_read_only = {'on' if on else 'off'}"
        )
        if on:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )


def test_alerts_sent_while_the_database_was_read_only_are_stored_once_it_is_writable(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create_database()
    database = url.rsplit("/", 1)[1]
    with audit_service(tmp_path, url, {DEVICE: KEY}) as service:
        device = MqttDevice(service.broker_url, AlertChain(DEVICE, KEY))
        device.chain.extend(20, evidence=True)
        reader = service.store
        try:
            # Given alerts stored
            device.publish(range(1, 11))
            wait_until(lambda: [p.contiguous_seq for p in reader.progress()] == [10], WAIT_S)

            # When the database turns read-only and more alerts come, then they are refused
            read_only(postgres, database, on=True)
            device.publish(range(11, 21))
            service.handled("edge_gateway_audit_store_errors_total", {}, 1)

            # And once it is writable again, they are stored, each once, images and all
            read_only(postgres, database, on=False)
            wait_until(
                lambda: [(p.contiguous_seq, p.evidence_missing) for p in reader.progress()] == [(20, 0)],
                WAIT_S,
            )
            report = verify_store(reader, {DEVICE: KEY})
            assert report.ok, report.render()
            assert report.devices[0].alerts == 20
        finally:
            device.close()


def test_a_key_rotated_while_the_database_refuses_writes_applies_to_what_arrives_after_it(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """A reload while a batch is being retried: the alerts in it arrived signed with the old key and
    are stored with it, those after the reload are checked with the new one. Checked again with the
    new key on each retry, the earlier ones were rejected as bad signatures, and every replay of
    them would be too. The real ``audit serve`` process, on a real PostgreSQL."""
    url = postgres.create_database()
    new_key = bytes(range(200, 232))
    with Mosquitto(tmp_path / "broker") as broker:
        service = Service(tmp_path, broker.url, database_url=url)
        service.write_keys({DEVICE: KEY})
        chain = AlertChain(DEVICE, KEY)
        client = connect_client(broker.url, "devices")
        reader = AuditStore.open(url, {})
        try:
            with service.running():
                # Given an alert stored, then one refused while the database is read-only
                client.publish(chain.topic, chain.extend(1)[0], qos=1).wait_for_publish(10)
                wait_until(lambda: [p.contiguous_seq for p in reader.progress()] == [1], WAIT_S)
                read_only(postgres, url.rsplit("/", 1)[1], on=True)
                client.publish(chain.topic, chain.extend(1)[0], qos=1).wait_for_publish(10)
                wait_until(lambda: service.metric("edge_gateway_audit_store_errors_total ") >= 1, WAIT_S)

                # When the device's key is rotated, and it sends with its new key
                service.write_keys({DEVICE: new_key})
                service.reload("audit: keys reloaded")
                chain.key = new_key
                client.publish(chain.topic, chain.extend(1)[0], qos=1).wait_for_publish(10)

                # Then once the database takes writes again, both are stored, nothing rejected
                read_only(postgres, url.rsplit("/", 1)[1], on=False)
                wait_until(lambda: [p.contiguous_seq for p in reader.progress()] == [3], WAIT_S)
                assert reader.rejected() == []
        finally:
            reader.close()
            client.disconnect()
            client.loop_stop()
