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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
READABLE = "device_id, seq, hash, prev_hash, payload, received_at, evidence_sha256, alert_at"
"""Every column of audit_alerts but evidence_missing, which the progress read counts."""


def grant(url: str, *statements: str) -> None:
    """Run these GRANT/REVOKE statements as ``url``'s role."""
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def new_role(url: str, *grants: str) -> str:
    """A new login role with these grants (on ``url``'s database); returns its URL."""
    role = f"auditor_{secrets.token_hex(4)}"
    grant(url, f"CREATE ROLE {role} LOGIN", *(statement.format(role=role) for statement in grants))
    return url.replace("postgres@", f"{role}@")


@dataclass
class Running:
    subscriber: AuditSubscriber
    device: MqttDevice
    reader: AuditStore
    """On the owner's connection: reads what the role's subscriber stored."""

    def progress(self) -> list[tuple[int, int]]:
        return [(progress.contiguous_seq, progress.max_seq) for progress in self.reader.progress()]


@contextmanager
def subscriber_as(tmp_path: Path, url: str, owner_url: str) -> Iterator[Running]:
    """The subscriber storing as ``url``'s role, subscribed, and a device publishing to it."""
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"{DEVICE}: {KEY.hex()}\n")
    with Mosquitto(tmp_path / "broker") as broker:
        config = AuditConfig.model_validate(
            {
                "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
                "database": url,
                "keys_file": str(keys_file),
                "replay_after_s": 0.5,
            }
        )
        store = AuditStore.open(url, {DEVICE: KEY})
        subscriber = AuditSubscriber(config, store, CollectorRegistry())
        subscriber.start()
        device = MqttDevice(broker.url, AlertChain(DEVICE, KEY))
        reader = AuditStore.open(owner_url, {DEVICE: KEY})
        try:
            assert subscriber.wait_subscribed(10), subscriber.last_error
            yield Running(subscriber, device, reader)
        finally:
            reader.close()
            device.close()
            subscriber.stop()
            store.close()


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
    with subscriber_as(tmp_path, url, owner_url) as running:
        running.device.publish(range(1, 4))
        wait_until(lambda: running.progress() == [(3, 3)], WAIT_S)


def test_storing_goes_on_while_the_progress_read_fails(postgres: PostgresServer, tmp_path: Path) -> None:
    # Given a store that its role made, then refused itself the column the progress read counts
    # (the read fails after each batch has committed, as when the server goes away right then)
    owner_url = postgres.create_database()
    url = new_role(owner_url, "GRANT CREATE ON SCHEMA public TO {role}")
    AuditStore.open(url, {}).close()
    grant(
        url,
        "REVOKE SELECT ON audit_alerts FROM CURRENT_USER",
        f"GRANT SELECT ({READABLE}) ON audit_alerts TO CURRENT_USER",
    )
    with subscriber_as(tmp_path, url, owner_url) as running:
        # When a device's alerts come with seq 3 missing, then more
        running.device.publish([1, 2, 4, 5])
        wait_until(lambda: running.progress() == [(2, 5)], WAIT_S)
        running.device.publish([6])

        # Then it goes on storing
        wait_until(lambda: running.progress()[0][1] == 6, WAIT_S)
        assert running.subscriber.storing
        assert running.device.replay_requests == []

        # And once the read works, the gap is seen, asked for, and closes
        grant(url, "GRANT SELECT ON audit_alerts TO CURRENT_USER")
        wait_until(lambda: running.progress()[0][0] == 6, WAIT_S)
        assert running.device.replay_requests
        assert running.subscriber.storing
