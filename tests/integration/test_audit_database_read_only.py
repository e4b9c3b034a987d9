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
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.audit.subscriber import AuditSubscriber
from gateway.audit.verify import verify_store
from gateway.config import AuditConfig
from tests.support.audit_device import AlertChain, MqttDevice, wait_until
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
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"{DEVICE}: {KEY.hex()}\n")
    with Mosquitto(tmp_path / "broker") as broker:
        config = AuditConfig.model_validate(
            {
                "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
                "database": url,
                "keys_file": str(keys_file),
            }
        )
        store = AuditStore.open(url, {DEVICE: KEY})
        subscriber = AuditSubscriber(config, store, CollectorRegistry())
        subscriber.start()
        device = MqttDevice(broker.url, AlertChain(DEVICE, KEY))
        device.chain.extend(20, evidence=True)
        reader = AuditStore.open(url, {DEVICE: KEY})
        try:
            assert subscriber.wait_subscribed(10), subscriber.last_error
            # Given alerts stored
            device.publish(range(1, 11))
            wait_until(lambda: [p.contiguous_seq for p in reader.progress()] == [10], WAIT_S)

            # When the database turns read-only and more alerts come, then they are refused
            read_only(postgres, database, on=True)
            device.publish(range(11, 21))
            wait_until(lambda: "read-only" in (subscriber.last_error or ""), WAIT_S)

            # And once it is writable again, they are stored, each once, images and all
            read_only(postgres, database, on=False)
            wait_until(
                lambda: [(p.contiguous_seq, p.evidence_missing) for p in reader.progress()] == [(20, 0)],
                WAIT_S,
            )
            assert subscriber.storing
            report = verify_store(reader, {DEVICE: KEY})
            assert report.ok, report.render()
            assert report.devices[0].alerts == 20
        finally:
            reader.close()
            device.close()
            subscriber.stop()
            store.close()
