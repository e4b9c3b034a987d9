"""Two audit instances recording the same rejected messages in opposite orders never deadlock.

Two instances on one PostgreSQL database can each be handed a copy of the same rejected messages
(a shared subscription redelivers, a device sends them to both). Each inserted its rows in arrival
order, and the unique fingerprint index made the second wait for the first's uncommitted row: in
opposite orders each held a row the other needed, PostgreSQL broke the deadlock by failing one batch
(an outage to its store, retried). The writers now lock the messages in one shared order first.
"""

from __future__ import annotations

import threading
import time

import psycopg

from gateway.audit.store import AuditStore, IngestResult, Outcome, ReceivedMessage
from tests.support.audit_device import AlertChain, wait_until
from tests.support.postgres import PostgresServer, waiting_sessions

KEY = bytes(range(32))
MESSAGES = 300
WAIT_S = 60.0


def test_two_writers_record_the_same_rejections_in_opposite_orders(postgres: PostgresServer) -> None:
    # Given two stores on one PostgreSQL database, and the alerts of a device nobody keyed
    database = postgres.create_database()
    unknown = AlertChain("box-unknown", KEY)
    now = time.time()
    messages = [ReceivedMessage(unknown.topic, payload, now) for payload in unknown.extend(MESSAGES)]
    stores = [AuditStore.open(database, {"box-other": KEY}) for _ in range(2)]
    results: list[list[IngestResult]] = [[], []]
    errors: list[BaseException] = []

    def write(index: int, batch: list[ReceivedMessage]) -> None:
        try:
            results[index] = stores[index].ingest(batch)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    locker = psycopg.connect(database)
    writers = [
        threading.Thread(target=write, args=(0, messages), name="writer-arrival"),
        threading.Thread(target=write, args=(1, messages[::-1]), name="writer-reversed"),
    ]
    try:
        # And the rejected table closed to inserts, so that both writers are inside their
        # transactions at once before either inserts a row
        locker.execute("LOCK TABLE audit_rejected IN SHARE MODE")
        for writer in writers:
            writer.start()
        wait_until(lambda: waiting_sessions(database) == 2, WAIT_S)

        # When the table opens to both
        locker.rollback()
        for writer in writers:
            writer.join(WAIT_S)

        # Then neither batch failed (a deadlock fails one), and each message is rejected by one
        # writer, a duplicate to the other, and recorded once
        assert not any(writer.is_alive() for writer in writers)
        assert errors == []
        outcomes = list(zip(results[0], results[1][::-1], strict=True))
        assert sorted({(first.outcome, second.outcome) for first, second in outcomes}) in (
            [(Outcome.REJECTED, Outcome.DUPLICATE)],
            [(Outcome.DUPLICATE, Outcome.REJECTED)],
        )
        assert stores[0].rejected_counts() == {"box-unknown": MESSAGES}
        # And the rows' ids are in the arrival order of the writer that recorded them
        payloads = [message.payload for message in messages]
        assert [message.payload for message in stores[0].rejected()] in (payloads, payloads[::-1])
    finally:
        locker.close()
        for store in stores:
            store.close()
