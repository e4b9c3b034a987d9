"""A rejected message is recorded once, however often it is delivered.

QoS 1 is at least once: when the audit's session reconnects before its PUBACK reached the broker,
the broker hands the message over again. A stored alert's copy was already a no-op, but a rejected
one (a bad signature, an unknown device, a broken chain) was written to the rejected table again, so
a device's rejected count could exceed the messages it had rejected. A rejection is identified by
what the message carries (topic, bytes, reason) and recorded once; the copy is a duplicate.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, RejectReason
from gateway.audit.subscriber import AuditSubscriber
from gateway.config import AuditConfig
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import AlertChain, connect_client, event, wait_until
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))
FORGING_KEY = bytes(range(100, 132))
WAIT_S = 30.0


def test_a_rejected_message_delivered_again_is_recorded_once(database_url: str) -> None:
    # Given a device whose alert 1 is signed with a key that is not its own, an unknown device's
    # alert, and a device's alert 3 that does not link to its stored alert 2
    forged = AlertChain("box-forged", FORGING_KEY)
    unknown = AlertChain("box-unknown", KEY)
    good = AlertChain("box-good", KEY)
    good.extend(2)
    unlinked = encode_alert(build_alert("box-good", 3, event(3), "f" * 64, KEY))
    now = time.time()
    store = AuditStore.open(database_url, {"box-forged": KEY, "box-good": KEY})
    try:
        store.ingest([ReceivedMessage(good.topic, payload, now) for payload in good.payloads])
        bad = [
            ReceivedMessage(forged.topic, forged.extend(1)[0], now),
            ReceivedMessage(unknown.topic, unknown.extend(1)[0], now),
            ReceivedMessage(good.topic, unlinked, now),
        ]
        first = store.ingest(bad)

        # When each is delivered again, in a later batch and twice in one batch
        later = [ReceivedMessage(message.topic, message.payload, now + 1) for message in bad]
        again = store.ingest(later + later)

        # Then each is rejected once, its copies are duplicates, and one row each is kept
        assert [result.outcome for result in first] == [Outcome.REJECTED] * 3
        assert [result.outcome for result in again] == [Outcome.DUPLICATE] * 6
        assert sorted(message.device_id or "" for message in store.rejected()) == [
            "box-forged",
            "box-good",
            "box-unknown",
        ]
        assert store.rejected_counts() == {"box-forged": 1, "box-good": 1, "box-unknown": 1}
        # And another message of the same device is still a rejection of its own
        (other,) = store.ingest([ReceivedMessage(forged.topic, forged.extend(1)[0], now)])
        assert other.outcome is Outcome.REJECTED
        assert store.rejected_counts()["box-forged"] == 2
    finally:
        store.close()


@pytest.mark.parametrize("session_dropped", [False, True], ids=["database waits", "database session dropped"])
def test_a_redelivery_while_the_database_waits_is_recorded_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, session_dropped: bool
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.audit.subscriber")
    # Given the audit subscriber on PostgreSQL and mosquitto, with a forged alert on its way
    forged = AlertChain("box-forged", FORGING_KEY)
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"box-forged: {KEY.hex()}\n")
    with PostgresServer() as postgres, Mosquitto(tmp_path / "broker") as broker:
        database = postgres.create_database()
        config = AuditConfig.model_validate(
            {
                "mqtt": {"url": broker.url, "reconnect_min_s": 1, "reconnect_max_s": 1},
                "database": database,
                "keys_file": str(keys_file),
            }
        )
        registry = CollectorRegistry()
        store = AuditStore.open(database, {"box-forged": KEY})
        subscriber = AuditSubscriber(config, store, registry)
        subscriber.start()
        device = connect_client(broker.url, "box-forged")
        locker = psycopg.connect(database)
        try:
            assert subscriber.wait_subscribed(10), subscriber.last_error
            # And the rejected table held by another session, so the store waits before it commits
            # and acknowledges
            locker.execute("LOCK TABLE audit_rejected IN ACCESS EXCLUSIVE MODE")
            device.publish(forged.topic, forged.extend(1)[0], qos=1).wait_for_publish(10)
            wait_until(lambda: waiting_for_lock(database), WAIT_S)

            # When the broker restarts, so that the audit's session reconnects before its PUBACK
            # was sent and the broker hands the alert over again, and then the table is free
            broker.restart()
            wait_until(lambda: reconnects(caplog) == 2, WAIT_S)
            if session_dropped:
                # (and the store's database session is dropped meanwhile: its batch is retried)
                drop_waiting_sessions(database)
                wait_until(
                    lambda: (registry.get_sample_value("edge_gateway_audit_store_errors_total") or 0) >= 1,
                    WAIT_S,
                )
            locker.rollback()

            # Then both deliveries are handled, and the alert is rejected once
            wait_until(lambda: handled(registry) == 2, WAIT_S)
            assert handled(registry, "rejected") == 1
            assert (
                registry.get_sample_value("edge_gateway_audit_rejected_total", {"reason": "signature"}) == 1
            )
            assert store_rejected(database) == 1
        finally:
            locker.close()
            device.disconnect()
            device.loop_stop()
            subscriber.stop()
            store.close()


def waiting_for_lock(database: str) -> bool:
    """A session of the audit store waits for the table lock the test holds."""
    with psycopg.connect(database, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'audit_rejected' AND NOT l.granted"
        ).fetchall()
    return bool(rows[0][0])


def reconnects(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.getMessage().startswith("audit: connected"))


def drop_waiting_sessions(database: str) -> None:
    """End the sessions waiting for the table lock the test holds (a failover, an administrator)."""
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'audit_rejected' AND NOT l.granted"
        )


def handled(registry: CollectorRegistry, outcome: str | None = None) -> float:
    outcomes = [outcome] if outcome else ["stored", "duplicate", "rejected"]
    return sum(
        registry.get_sample_value("edge_gateway_audit_messages_total", {"outcome": name}) or 0.0
        for name in outcomes
    )


def store_rejected(database: str) -> int:
    reader = AuditStore.open(database, {})
    try:
        return reader.rejected_counts().get("box-forged", 0)
    finally:
        reader.close()


def test_a_stored_alert_delivered_again_after_a_reload_is_a_duplicate(database_url: str) -> None:
    # Given box-a's alerts 1 and 2 stored under its key, and box-b's alert 1
    a, b = AlertChain("box-a", KEY), AlertChain("box-b", KEY)
    a.extend(2)
    b.extend(1)
    now = time.time()
    store = AuditStore.open(database_url, {"box-a": KEY, "box-b": KEY})
    try:
        store.ingest(
            [ReceivedMessage(chain.topic, payload, now) for chain in (a, b) for payload in chain.payloads]
        )

        # When the keys are reloaded with box-a re-keyed (its older key not listed) and box-b
        # taken out, and the broker hands the stored alerts over again (or the devices replay them)
        store.replace_keys({"box-a": FORGING_KEY})
        again = store.ingest(
            [ReceivedMessage(chain.topic, payload, now) for chain in (a, b) for payload in chain.payloads]
        )

        # Then they are copies of what is stored, not rejections: the devices did nothing wrong
        assert [result.outcome for result in again] == [Outcome.DUPLICATE] * 3
        assert store.rejected_counts() == {}
        # And an alert that is not stored is still refused for the keys in force
        (late,) = store.ingest([ReceivedMessage(a.topic, a.extend(1)[0], now)])
        assert (late.outcome, late.reason) == (Outcome.REJECTED, RejectReason.SIGNATURE)
        # And so is a stored alert's content under a signature of a key nobody listed
        resigned = encode_alert(build_alert("box-a", 1, event(1), ZERO_HASH, bytes(range(200, 232))))
        (copy,) = store.ingest([ReceivedMessage(a.topic, resigned, now)])
        assert (copy.outcome, copy.reason) == (Outcome.REJECTED, RejectReason.SIGNATURE)
    finally:
        store.close()
