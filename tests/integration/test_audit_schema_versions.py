"""The audit store's schema version through a rolling upgrade, on SQLite and a real PostgreSQL.

Audit instances of a fleet are upgraded one at a time, so an older release may open a store a newer
one has migrated. The older release wrote its own, lower version back, and the newer one, opening
the store again, ran that version's migration a second time: "duplicate column", and ``audit serve``
could not start. Each migration step now runs only where its columns are missing (counting again
what the older release did not count), and a store is never moved to a lower version.
"""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from gateway.audit import schema
from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))
DEVICE = "box-1"


def execute_sql(url: str, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return connection.execute(sql, parameters).fetchall()
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql.replace("?", "%s"), parameters)
        return [tuple(row) for row in cursor] if cursor.description else []


def stored_by_this_release(url: str, chain: AlertChain, seqs: range) -> None:
    store = AuditStore.open(url, {DEVICE: KEY})
    try:
        store.ingest([ReceivedMessage(chain.topic, chain.payload(seq), 1_780_000_001.0) for seq in seqs])
    finally:
        store.close()


def test_a_store_an_older_release_wrote_its_version_back_to_opens_and_is_counted_again(
    database_url: str,
) -> None:
    # Given a store this release made and filled, then opened by a version 2 release, which wrote
    # its version back and stored alert 4 without the fleet counts it does not know
    chain = AlertChain(DEVICE, KEY)
    chain.extend(4)
    stored_by_this_release(database_url, chain, range(1, 4))
    execute_sql(database_url, "UPDATE audit_schema SET version = 2")
    fields = json.loads(chain.payload(4))
    execute_sql(
        database_url,
        "INSERT INTO audit_alerts (device_id, seq, hash, prev_hash, payload, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (DEVICE, 4, fields["hash"], fields["prev_hash"], chain.payload(4), 1_780_000_002.0),
    )
    execute_sql(database_url, "UPDATE audit_devices SET contiguous_seq = 4, max_seq = 4")

    # When this release opens it again, then it opens, at its version, with every alert counted
    store = AuditStore.open(database_url, {DEVICE: KEY})
    try:
        (device,) = store.devices()
        assert (device.alerts_stored, device.missing_alerts) == (4, 0)
    finally:
        store.close()
    assert execute_sql(database_url, "SELECT version FROM audit_schema") == [(schema.VERSION,)]


@pytest.mark.parametrize("written_back", [3, schema.VERSION + 1])
def test_a_store_opens_whatever_version_another_release_left(database_url: str, written_back: int) -> None:
    # Given a store of this release whose version another release changed (an older one's, or a
    # newer one's that this release does not know)
    chain = AlertChain(DEVICE, KEY)
    chain.extend(2)
    stored_by_this_release(database_url, chain, range(1, 2))
    execute_sql(database_url, "UPDATE audit_schema SET version = ?", (written_back,))

    # Then this release opens it and stores on, and never moves it to a lower version
    stored_by_this_release(database_url, chain, range(2, 3))
    assert execute_sql(database_url, "SELECT version FROM audit_schema") == [
        (max(written_back, schema.VERSION),)
    ]
    assert execute_sql(database_url, "SELECT alerts_stored FROM audit_devices") == [(2,)]
