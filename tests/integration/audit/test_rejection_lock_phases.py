"""Two PostgreSQL writers never wait for each other's rejection locks in opposite orders.

Each writer locks the rejected messages it records (advisory locks, class 7468122) in ascending key
order. A held image that the alert arriving for it turns into a rejection was locked on its own,
while the alert's device was being written, and the batch's rejections were locked later, sorted
among themselves only. A lock key is 32 bits of the message's fingerprint, so two different messages
can share one (found by a short search; anyone who can publish can search for one): a writer holding
the held image's key then waited for a key below it that a second writer held, and the second was
waiting for the held image's key. PostgreSQL broke the deadlock by failing one batch (an outage to
its store, retried). Every rejection of a transaction is now locked in one sorted acquisition.
"""

from __future__ import annotations

import threading
import time

import psycopg

from gateway.audit.records import IngestResult, Outcome, ReceivedMessage, RejectReason
from gateway.audit.rejections import fingerprint
from gateway.audit.store import AuditStore
from tests.support.audit_device import AlertChain, wait_until
from tests.support.postgres import PostgresServer, waiting_sessions

KEY = bytes(range(32))
WAIT_S = 60.0
HELD_TOPIC = "edge/box-held/evidence/1"
HELD_IMAGE = b"held-image-108006"
JUNK_TOPIC = "edge/box-junk/alerts"
SHARED_KEY_JUNK = b"junk-50847"
"""Not an alert, and its rejection's lock key is the held image's rejection's."""
LOWER_KEY_JUNK = b"junk-0"
"""Not an alert, its rejection's lock key below that one: both writers record it."""


def lock_key(marker: str) -> int:
    return int.from_bytes(bytes.fromhex(marker[:8]), "big", signed=True)


def test_a_held_image_rejected_and_a_batchs_rejections_are_locked_in_one_order(
    postgres: PostgresServer,
) -> None:
    held = lock_key(fingerprint(HELD_TOPIC, HELD_IMAGE, RejectReason.EVIDENCE.value))
    assert held == lock_key(fingerprint(JUNK_TOPIC, SHARED_KEY_JUNK, RejectReason.SCHEMA.value))
    assert lock_key(fingerprint(JUNK_TOPIC, LOWER_KEY_JUNK, RejectReason.SCHEMA.value)) < held

    # Given two stores on one PostgreSQL database, and an image held for alert 1 of a keyed device
    database = postgres.create_database()
    chain = AlertChain("box-held", KEY)
    now = time.time()
    stores = [AuditStore.open(database, {"box-held": KEY}) for _ in range(2)]
    (image,) = stores[0].ingest([ReceivedMessage(HELD_TOPIC, HELD_IMAGE, now)])
    assert image.outcome is Outcome.STORED
    # And alert 1, which names no image (so the held one is rejected), with a message that is no
    # alert; and the two messages that are no alert, one sharing the held image's lock key
    batches = [
        [
            ReceivedMessage(chain.topic, chain.extend(1)[0], now),
            ReceivedMessage(JUNK_TOPIC, LOWER_KEY_JUNK, now),
        ],
        [ReceivedMessage(JUNK_TOPIC, LOWER_KEY_JUNK, now), ReceivedMessage(JUNK_TOPIC, SHARED_KEY_JUNK, now)],
    ]
    results: list[list[IngestResult]] = [[], []]
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            results[index] = stores[index].ingest(batches[index])
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    locker = psycopg.connect(database)
    writers = [threading.Thread(target=write, args=(index,), name=f"writer-{index}") for index in range(2)]
    try:
        # And the rejected table closed to inserts: the first writer stops at its first rejection
        # row, holding what it locked before it, and the second at the first lock the first holds
        locker.execute("LOCK TABLE audit_rejected IN SHARE MODE")
        writers[0].start()
        wait_until(lambda: waiting_sessions(database) == 1, WAIT_S)
        writers[1].start()
        wait_until(lambda: waiting_sessions(database) == 2, WAIT_S)

        # When the table opens
        locker.rollback()
        for writer in writers:
            writer.join(WAIT_S)

        # Then neither batch failed (PostgreSQL fails one of a deadlock), and everything is recorded once
        assert not any(writer.is_alive() for writer in writers)
        assert errors == []
        assert [result.outcome for result in results[0]] == [Outcome.STORED, Outcome.REJECTED]
        assert [result.outcome for result in results[1]] == [Outcome.DUPLICATE, Outcome.REJECTED]
        assert sorted(message.payload for message in stores[0].rejected()) == sorted(
            [HELD_IMAGE, LOWER_KEY_JUNK, SHARED_KEY_JUNK]
        )
    finally:
        locker.close()
        for store in stores:
            store.close()
