"""``audit serve`` against PostgreSQL as a role that may only read and write the audit tables (the
tables made and migrated by their owner, as a least-privilege deployment does), with a real
PostgreSQL and mosquitto.

- Every open ran the first version's ``CREATE TABLE/INDEX IF NOT EXISTS``, which needs the right to
  create in the schema and to own the tables, even on a store already at this release's version:
  such a role could not start at all. A store at the current version is now opened without them.
- A read of the devices' progress that failed after a batch had been stored (the database going
  away right after the commit, or a read it refuses) ended the subscriber's store thread, so a
  PostgreSQL restart at the wrong moment stopped ``audit serve``. The read is now tried again on
  the next round, while storing goes on; here the role is refused the column that read needs.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.audit.subscriber import AuditSubscriber
from gateway.config import AuditConfig
from tests.support.audit_device import AlertChain, MqttDevice, wait_until
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))
DEVICE = "box-1"
WAIT_S = 30.0
READABLE = "device_id, seq, hash, prev_hash, payload, received_at, evidence_sha256"
"""Every column of audit_alerts but evidence_missing, which the progress read counts."""


def new_role(url: str, *grants: str) -> str:
    """A new login role with these grants (on ``url``'s database); returns its URL."""
    role = f"auditor_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
        for grant in grants:
            connection.execute(grant.format(role=role))
    return url.replace("postgres@", f"{role}@")


def audit_config(tmp_path: Path, broker: Mosquitto, url: str) -> AuditConfig:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"{DEVICE}: {KEY.hex()}\n")
    return AuditConfig.model_validate(
        {
            "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
            "database": url,
            "keys_file": str(keys_file),
            "replay_after_s": 0.5,
        }
    )


def test_a_role_that_may_only_read_and_write_the_tables_stores(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    # Given a store made by its owner, and a role that may read and write its tables, not alter
    # them nor create in the schema
    owner_url = postgres.create_database()
    AuditStore.open(owner_url, {}).close()
    url = new_role(
        owner_url,
        "REVOKE CREATE ON SCHEMA public FROM {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    )

    # When the subscriber runs as that role, then it starts and stores a device's alerts
    with Mosquitto(tmp_path / "broker") as broker:
        store = AuditStore.open(url, {DEVICE: KEY})
        subscriber = AuditSubscriber(audit_config(tmp_path, broker, url), store, CollectorRegistry())
        subscriber.start()
        device = MqttDevice(broker.url, AlertChain(DEVICE, KEY))
        reader = AuditStore.open(owner_url, {DEVICE: KEY})
        try:
            assert subscriber.wait_subscribed(10), subscriber.last_error
            device.publish(range(1, 4))
            wait_until(lambda: [(p.contiguous_seq, p.max_seq) for p in reader.progress()] == [(3, 3)], WAIT_S)
        finally:
            reader.close()
            device.close()
            subscriber.stop()
            store.close()


def test_storing_goes_on_while_the_progress_read_fails(postgres: PostgresServer, tmp_path: Path) -> None:
    # Given a store that its role made, then refused itself the column the progress read counts
    # (the read fails after each batch has committed, as when the server goes away right then)
    owner_url = postgres.create_database()
    url = new_role(owner_url, "GRANT CREATE ON SCHEMA public TO {role}")
    AuditStore.open(url, {}).close()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("REVOKE SELECT ON audit_alerts FROM CURRENT_USER")
        connection.execute(f"GRANT SELECT ({READABLE}) ON audit_alerts TO CURRENT_USER")
    with Mosquitto(tmp_path / "broker") as broker:
        store = AuditStore.open(url, {DEVICE: KEY})
        subscriber = AuditSubscriber(audit_config(tmp_path, broker, url), store, CollectorRegistry())
        subscriber.start()
        device = MqttDevice(broker.url, AlertChain(DEVICE, KEY))
        reader = AuditStore.open(owner_url, {DEVICE: KEY})
        try:
            assert subscriber.wait_subscribed(10), subscriber.last_error

            # When a device's alerts come with seq 3 missing, then more
            device.publish([1, 2, 4, 5])
            wait_until(lambda: [(p.contiguous_seq, p.max_seq) for p in reader.progress()] == [(2, 5)], WAIT_S)
            device.publish([6])

            # Then it goes on storing
            wait_until(lambda: reader.progress()[0].max_seq == 6, WAIT_S)
            assert subscriber.storing
            assert device.replay_requests == []

            # And once the read works, the gap is seen, asked for, and closes
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("GRANT SELECT ON audit_alerts TO CURRENT_USER")
            wait_until(lambda: reader.progress()[0].contiguous_seq == 6, WAIT_S)
            assert device.replay_requests
            assert subscriber.storing
        finally:
            reader.close()
            device.close()
            subscriber.stop()
            store.close()
