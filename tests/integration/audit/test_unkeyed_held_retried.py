"""Images held for a device taken out of the keys file are dropped even when another writer held
that device at the first try.

After a keys reload the store thread drops the images held for devices no longer keyed, skipping a
device another instance's transaction holds (it does not wait for it). The skipped device's images
were meant to be dropped at the next try, but a try that skipped one still counted as done, so they
stayed until the next reload or restart, held for alerts that would all be rejected.
"""

from __future__ import annotations

import time

import psycopg
from prometheus_client import CollectorRegistry

from gateway.audit.keys_switch import KeysSwitch
from gateway.audit.replay import ProgressFeed, ReplayScheduler
from gateway.audit.store import AuditStore, Outcome, ReceivedMessage
from gateway.audit.subscriber_metrics import SubscriberMetrics
from tests.support.audit_device import AlertChain, jpeg
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))


def held(database: str, device_id: str) -> int:
    with psycopg.connect(database, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT COUNT(*) FROM audit_evidence WHERE device_id = %s AND verified = 0", (device_id,)
        ).fetchall()
    return int(rows[0][0])


def test_a_device_held_by_another_writer_has_its_images_dropped_at_the_next_try(
    postgres: PostgresServer,
) -> None:
    # Given an image held for a keyed device's alert 5
    database = postgres.create_database()
    chain = AlertChain("box-retired", KEY)
    store = AuditStore.open(database, {"box-retired": KEY})
    scheduler = ReplayScheduler(replay_after_s=1.0)
    switch = KeysSwitch(store, scheduler, ProgressFeed(scheduler), SubscriberMetrics(CollectorRegistry()))
    other = psycopg.connect(database)
    try:
        (result,) = store.ingest([ReceivedMessage(chain.image_topic(5), jpeg(5), time.time())])
        assert result.outcome is Outcome.STORED
        switch.drop_unkeyed_held()  # as at start: the device is keyed, nothing to drop

        # And the device taken out of the keys file while another writer holds it
        switch.replace({})
        switch.use(switch.epoch)
        other.execute("SELECT 1 FROM audit_devices WHERE device_id = 'box-retired' FOR UPDATE")

        # When the store thread drops what is held for unkeyed devices, then that device is skipped
        switch.drop_unkeyed_held()
        assert held(database, "box-retired") == 1

        # And once the other writer is done, the next try drops its image
        other.rollback()
        switch.drop_unkeyed_held()
        assert held(database, "box-retired") == 0
    finally:
        other.close()
        store.close()
