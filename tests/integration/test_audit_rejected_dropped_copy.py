"""A copy of a rejected message whose row the bounds dropped is still a duplicate.

The bounds drop the oldest rejected rows on purpose, to bound storage, and count them
(``audit_rejected_dropped``), so a device's rejected count stays the number of messages rejected.
A copy of a dropped message (QoS 1 redelivery, a device sending it again) found no row with its
fingerprint, was recorded again and counted a second time: the count grew for a message already in
it. The dropped rows' fingerprints are now kept, bounded like the rejected rows in all.
"""

from __future__ import annotations

import sqlite3
import time

import psycopg

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, StoreBounds
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))
FORGING_KEY = bytes(range(100, 132))


def test_a_copy_of_a_dropped_rejection_is_a_duplicate(database_url: str) -> None:
    # Given a store that keeps one rejected message per device, and a device whose alerts are
    # signed with a key that is not its own
    forged = AlertChain("box-forged", FORGING_KEY)
    first, second = (ReceivedMessage(forged.topic, payload, time.time()) for payload in forged.extend(2))
    store = AuditStore.open(database_url, {"box-forged": KEY}, bounds=StoreBounds(rejected_per_device=1))
    try:
        # When A is rejected, then B (A's row is dropped), and then A is delivered again
        (rejected_a,) = store.ingest([first])
        (rejected_b,) = store.ingest([second])
        (again,) = store.ingest([ReceivedMessage(first.topic, first.payload, time.time())])

        # Then the copy is a duplicate, and the device's rejected count is of the two messages
        assert (rejected_a.outcome, rejected_b.outcome) == (Outcome.REJECTED, Outcome.REJECTED)
        assert again.outcome is Outcome.DUPLICATE
        assert store.rejected_counts() == {"box-forged": 2}
        assert [message.payload for message in store.rejected()] == [second.payload]
    finally:
        store.close()


def test_the_dropped_fingerprints_kept_are_bounded(database_url: str) -> None:
    # Given a store that keeps two rejected messages in all
    forged = AlertChain("box-forged", FORGING_KEY)
    messages = [ReceivedMessage(forged.topic, payload, time.time()) for payload in forged.extend(8)]
    store = AuditStore.open(database_url, {"box-forged": KEY}, bounds=StoreBounds(rejected=2))
    try:
        # When eight are rejected, one batch at a time
        for message in messages:
            store.ingest([message])

        # Then the newest two rows are kept, and the fingerprints of the newest two dropped only
        assert [message.payload for message in store.rejected()] == [m.payload for m in messages[-2:]]
        assert forgotten(database_url) == 2
        # And a copy of a recently dropped message is a duplicate, one dropped long ago a rejection
        # counted again (the price of the bound)
        (recent,) = store.ingest([messages[-3]])
        assert recent.outcome is Outcome.DUPLICATE
        (old,) = store.ingest([messages[0]])
        assert old.outcome is Outcome.REJECTED
        assert store.rejected_counts() == {"box-forged": 9}
    finally:
        store.close()


def forgotten(url: str) -> int:
    sql = "SELECT COUNT(*) FROM audit_rejected_forgotten"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return int(connection.execute(sql).fetchone()[0])
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
        return int(row[0]) if row else 0
