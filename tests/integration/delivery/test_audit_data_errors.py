"""A value the database refuses is its message's rejection, not an outage: on SQLite and on a real
PostgreSQL server (UTF8, and LATIN1 as older clusters are), through ``AuditStore.ingest``, the call
the subscriber makes for every batch. Before, each of these messages failed its whole batch as if
the database were down (retried for ever, and redelivered after every restart) or ended the
audit-store thread, and a good alert in the same batch was never stored either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from gateway.audit.database import Database, PostgresDatabase, SqliteDatabase, open_database
from gateway.audit.store import AuditStore, IngestResult, Outcome, ReceivedMessage, RejectReason
from gateway.domain import Evidence
from gateway.errors import AuditError
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import AlertChain, event
from tests.support.postgres import PostgresServer

DEVICE = "cam-box-1"
KEY = bytes(range(32))
KEYS = {DEVICE: KEY}
LONG_DEVICE = "".join(hashlib.sha256(str(index).encode()).hexdigest() for index in range(63))
"""4,032 characters that do not compress: over the 2,704 bytes a PostgreSQL B-tree entry may hold,
so no index on a device id takes it; a valid MQTT topic level all the same (up to 65,535 bytes)."""

Opener = Callable[[str], AuditStore]


@pytest.fixture
def open_store() -> Iterator[Opener]:
    """Opens stores that are closed at the end of the test, whatever its outcome."""
    opened: list[AuditStore] = []

    def opener(url: str) -> AuditStore:
        # cam\u20ac has a key, so that its status reaches the database (a keyless one's is refused).
        opened.append(AuditStore.open(url, {**KEYS, "cam\u20ac": KEY}))
        return opened[-1]

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def chain() -> AlertChain:
    made = AlertChain(DEVICE, KEY)
    made.extend(3)
    return made


def outcomes(results: list[IngestResult]) -> list[tuple[Outcome, RejectReason | None]]:
    return [(result.outcome, result.reason) for result in results]


def stored_seqs(store: AuditStore) -> list[int]:
    return [alert.seq for alert in store.alerts(DEVICE)]


def test_a_value_the_database_refuses_rejects_its_message_and_the_batch_is_stored(
    database_url: str, open_store: Opener, chain: AlertChain
) -> None:
    # Given good alerts among messages whose topic a column refuses: a device id no B-tree index
    # holds and a NUL (PostgreSQL), a lone surrogate (neither driver encodes it).
    store = open_store(database_url)
    batch = [
        ReceivedMessage(chain.topic, chain.payload(1), 1.0),
        ReceivedMessage(f"edge/{LONG_DEVICE}/alerts", chain.payload(2), 1.0),
        ReceivedMessage(f"edge/{LONG_DEVICE}/status", b'{"state": "online"}', 1.0),
        ReceivedMessage(f"edge/{LONG_DEVICE}/evidence/1", b"\xff\xd8 an image", 1.0),
        ReceivedMessage("edge/cam\x00/alerts", chain.payload(2), 1.0),
        ReceivedMessage("edge/cam\ud800/alerts", chain.payload(2), 1.0),
        ReceivedMessage(chain.topic, chain.payload(2), 1.0),
    ]
    postgres = not database_url.startswith("sqlite")

    # When the batch is ingested, and again as the broker redelivers it
    results = store.ingest(batch)
    again = store.ingest(batch)

    # Then the good alerts are stored once and every other message is rejected on its own; a status
    # from a device with no key is refused before the database sees it (and, as any status, not kept).
    assert outcomes(results) == [
        (Outcome.STORED, None),
        (Outcome.REJECTED, RejectReason.TOPIC),
        (Outcome.REJECTED, RejectReason.UNKNOWN_DEVICE),
        (Outcome.REJECTED, RejectReason.UNKNOWN_DEVICE),
        (Outcome.REJECTED, RejectReason.TOPIC),
        (Outcome.REJECTED, RejectReason.TOPIC),
        (Outcome.STORED, None),
    ]
    assert outcomes(again)[0] == outcomes(again)[-1] == (Outcome.DUPLICATE, None)
    # And a rejected message delivered again is recorded once: its copy is a duplicate
    assert [outcome for outcome, _ in outcomes(again)[1:-1]] == [
        Outcome.DUPLICATE,
        Outcome.REJECTED,  # a status: logged, never kept, so refused again
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
    ]
    assert stored_seqs(store) == [1, 2]
    assert results[2].status
    # Every rejection is kept, once; where the database refuses its row, escaped to ASCII and
    # without the device id (the topic still names it).
    long_device = None if postgres else LONG_DEVICE
    assert [(entry.device_id, entry.topic) for entry in store.rejected()] == [
        (long_device, f"edge/{LONG_DEVICE}/alerts"),
        (long_device, f"edge/{LONG_DEVICE}/evidence/1"),
        (None, "edge/cam\\x00/alerts") if postgres else ("cam\x00", "edge/cam\x00/alerts"),
        (None, "edge/cam\\ud800/alerts"),
    ]
    assert [entry.reason.split(":")[0] for entry in store.rejected()[:4]] == [
        "topic",
        "unknown_device",
        "topic",
        "topic",
    ]


def test_a_refused_value_leaves_which_of_two_alerts_that_do_not_link_is_kept_as_it_was(
    database_url: str, open_store: Opener, chain: AlertChain
) -> None:
    # Given, for each of two devices, a seq 2 that does not link to seq 1 (signed, as a device whose
    # state was lost sends it) arriving before seq 1; the second device's batch also holds another
    # message the database refuses, so that batch is stored a message at a time
    store = open_store(database_url)
    refused = ReceivedMessage("edge/cam\ud800/alerts", chain.payload(1), 1.0)
    kept = {}
    for device, with_refused in ((DEVICE, False), ("cam\u20ac", True)):
        own = AlertChain(device, KEY)
        own.extend(1)
        forged = encode_alert(build_alert(device, 2, event(2), "f" * 64, KEY))
        batch = [ReceivedMessage(own.topic, forged, 1.0), ReceivedMessage(own.topic, own.payload(1), 1.0)]
        results = store.ingest([*batch, refused] if with_refused else batch)
        kept[with_refused] = (outcomes(results)[:2], [alert.seq for alert in store.alerts(device)])
    # Then each keeps seq 1 and refuses seq 2 as not linking: stored a message at a time, they were
    # ordered by device alone, and the second device kept seq 2 and refused its real seq 1
    assert (
        kept[True] == kept[False] == ([(Outcome.REJECTED, RejectReason.CHAIN), (Outcome.STORED, None)], [1])
    )


def test_a_refused_value_is_said_on_one_line(database_url: str) -> None:
    # Given a device keyed here (not through a keys file, which refuses such an id) whose id no
    # PostgreSQL index holds
    store = AuditStore.open(database_url, {LONG_DEVICE: KEY})
    own = AlertChain(LONG_DEVICE, KEY)
    own.extend(1)
    try:
        (result,) = store.ingest([ReceivedMessage(own.topic, own.payload(1), 1.0)])
    finally:
        store.close()
    # Then PostgreSQL refuses it, said in the server's first line only: its DETAIL and HINT lines
    # ("Index row references tuple (0,29) in relation ...") went into the stored reason
    if database_url.startswith("sqlite"):
        assert result.outcome is Outcome.STORED
    else:
        assert (result.outcome, result.reason) == (Outcome.REJECTED, RejectReason.UNSTORABLE)
        assert result.detail.startswith("the database refuses a value of it: ProgramLimitExceeded: ")
        assert "\n" not in result.detail


@pytest.fixture
def latin1_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A database whose encoding is LATIN1: it has no code for a character beyond U+00FF."""
    name = f"latin1_{hashlib.sha256(request.node.name.encode()).hexdigest()[:12]}"
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        connection.execute(
            f"CREATE DATABASE {name} ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    return postgres.url(name)


def test_text_a_latin1_database_cannot_encode_is_rejected_and_kept_escaped(
    latin1_url: str, open_store: Opener, chain: AlertChain
) -> None:
    # Given a LATIN1 database and messages with a character it has no code for: in a topic, and in
    # a field name that the rejection's reason repeats.
    store = open_store(latin1_url)
    with_euro_field = json.loads(chain.payload(2))
    with_euro_field["pri\u20ac"] = 1
    results = store.ingest(
        [
            ReceivedMessage(chain.topic, chain.payload(1), 1.0),
            ReceivedMessage("edge/cam\u00e9ra-\u20ac/alerts", chain.payload(2), 1.0),
            ReceivedMessage(chain.topic, json.dumps(with_euro_field, ensure_ascii=False).encode(), 1.0),
            ReceivedMessage("edge/cam\u20ac/status", b'{"state": "offline"}', 1.0),
            ReceivedMessage("edge/cam\u00e9ra/alerts", chain.payload(2), 1.0),
            ReceivedMessage(chain.topic, chain.payload(2), 1.0),
        ]
    )

    assert outcomes(results) == [
        (Outcome.STORED, None),
        (Outcome.REJECTED, RejectReason.TOPIC),
        (Outcome.REJECTED, RejectReason.SCHEMA),
        (Outcome.REJECTED, RejectReason.UNSTORABLE),
        (Outcome.REJECTED, RejectReason.TOPIC),
        (Outcome.STORED, None),
    ]
    assert "UnicodeEncodeError" in results[3].detail
    assert stored_seqs(store) == [1, 2]
    # Latin-1 text is kept as it is, the rest escaped; a device id is kept where it is not the issue.
    assert [(entry.device_id, entry.topic, entry.reason) for entry in store.rejected()] == [
        (
            None,
            "edge/cam\\xe9ra-\\u20ac/alerts",
            "topic: topic 'edge/cam\\xe9ra-\\u20ac/alerts' does not name device \"cam-box-1\"",
        ),
        (DEVICE, chain.topic, "schema: pri\\u20ac: unknown field"),
        (
            "cam\u00e9ra",
            "edge/cam\u00e9ra/alerts",
            "topic: topic 'edge/cam\u00e9ra/alerts' does not name device \"cam-box-1\"",
        ),
    ]


def test_a_message_not_even_its_escaped_rejection_can_hold_is_dropped_with_an_error(
    tmp_path: Path, chain: AlertChain, caplog: pytest.LogCaptureFixture
) -> None:
    # Given SQLite with a smaller length limit than its default (as builds for small devices set):
    # an image under the store's own size limit is still too big for a blob, even in a rejection.
    database = SqliteDatabase(tmp_path / "audit.db")
    if sys.version_info < (3, 11):
        database.close()
        pytest.skip("Connection.setlimit is Python 3.11's")
    else:
        database._connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)
    store = AuditStore(database, KEYS)
    # and an alert naming it, so the image is refused by the database, not as one no alert names
    image = b"\xff\xd8" + bytes(200_000)
    named = Evidence(hashlib.sha256(image).hexdigest(), len(image), "image/jpeg", 64, 48)
    alert = encode_alert(
        build_alert(DEVICE, 1, dataclasses.replace(event(1), evidence=named), ZERO_HASH, KEY)
    )

    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        results = store.ingest(
            [ReceivedMessage(chain.image_topic(1), image, 1.0), ReceivedMessage(chain.topic, alert, 1.0)]
        )

    # Then the alert is stored, and the image dropped with an error logged.
    assert outcomes(results) == [(Outcome.REJECTED, RejectReason.UNSTORABLE), (Outcome.STORED, None)]
    assert results[0].evidence
    assert "DataError: string or blob too big" in results[0].detail
    assert stored_seqs(store) == [1]
    assert store.rejected() == []
    assert [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR] == [
        "audit: dropped a message of 200002 bytes from edge/cam-box-1/evidence/1: the database refuses "
        "even its escaped rejection (DataError: string or blob too big)"
    ]
    store.close()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url)
    yield opened
    opened.close()


def test_an_error_that_is_not_a_refused_value_stays_an_outage(
    database_url: str, database: Database, open_store: Opener, chain: AlertChain
) -> None:
    # Given a table gone from under the store (an error no message's data explains)
    store = open_store(database_url)
    store.ingest([ReceivedMessage(chain.topic, chain.payload(1), 1.0)])
    with database.transaction():
        database.execute("ALTER TABLE audit_rejected RENAME TO audit_rejected_away")
    batch = [
        ReceivedMessage("edge/stranger/alerts", chain.payload(2), 1.0),
        ReceivedMessage(chain.topic, chain.payload(2), 1.0),
    ]

    # Then the batch fails, to be retried, and nothing of it is rejected or lost
    with pytest.raises(AuditError, match="audit store write failed"):
        store.ingest(batch)
    assert stored_seqs(store) == [1]
    with database.transaction():
        database.execute("ALTER TABLE audit_rejected_away RENAME TO audit_rejected")
    assert outcomes(store.ingest(batch)) == [(Outcome.REJECTED, RejectReason.TOPIC), (Outcome.STORED, None)]
    assert stored_seqs(store) == [1, 2]


def test_a_dropped_postgresql_connection_stays_an_outage(
    postgres: PostgresServer, open_store: Opener, chain: AlertChain
) -> None:
    url = postgres.create_database()
    store = open_store(url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    message = ReceivedMessage(chain.topic, chain.payload(1), 1.0)

    with pytest.raises(AuditError):
        store.ingest([message])
    assert outcomes(store.ingest([message])) == [(Outcome.STORED, None)]
    assert store.rejected() == []


# Statements that fail on the real databases, and whether the failure is a refused value (the
# message's rejection) or might pass on a retry (an outage).
FAILURES = {
    "NOT NULL": (
        "INSERT INTO audit_rejected (topic, payload, reason, received_at) VALUES (?, ?, 'r', 1.0)",
        (None, b"payload"),
        True,
    ),
    "CHECK": ("INSERT INTO audit_schema (id, version) VALUES (2, 3)", (), True),
    "integer over 64 bits": (
        "INSERT INTO audit_devices (device_id, contiguous_seq, max_seq) VALUES ('b', ?, 0)",
        (2**64,),
        True,
    ),
    "lone surrogate": ("SELECT 1 FROM audit_devices WHERE device_id = ?", ("\ud800",), True),
    "unique": (
        "INSERT INTO audit_devices (device_id, contiguous_seq, max_seq) VALUES ('a', 0, 0)",
        (),
        False,
    ),
    "no such table": ("SELECT 1 FROM audit_nowhere", (), False),
    "syntax": ("SELEKT 1", (), False),
}
POSTGRES_FAILURES = {
    "NUL": ("SELECT 1 FROM audit_devices WHERE device_id = ?", ("a\x00",), True),
    "integer out of range": ("SELECT CAST(? AS INTEGER)", ("2147483648",), True),
    "invalid text": ("SELECT CAST(? AS BIGINT)", ("12x",), True),
    "datetime": ("SELECT CAST(? AS TIMESTAMP)", ("0000-01-01 00:00:00",), True),
    "index entry": (
        "INSERT INTO audit_devices (device_id, contiguous_seq, max_seq) VALUES (?, 0, 0)",
        (LONG_DEVICE,),
        True,
    ),
    "statement timeout": ("SELECT pg_sleep(1)", (), False),
}


def failure(database: Database, sql: str, parameters: tuple[object, ...]) -> Exception:
    try:
        with database.transaction():
            database.execute(
                "INSERT INTO audit_devices (device_id, contiguous_seq, max_seq) VALUES ('a', 0, 0)"
            )
            if isinstance(database, PostgresDatabase):
                database.execute("SET LOCAL statement_timeout = 10")
            database.execute(sql, parameters)
    except Exception as exc:
        return exc
    raise AssertionError(f"{sql} did not fail")


@pytest.mark.parametrize("name", FAILURES)
def test_which_failures_are_refused_values(database: Database, name: str) -> None:
    sql, parameters, refused = FAILURES[name]
    assert database.is_data_error(failure(database, sql, parameters)) is refused


@pytest.mark.parametrize("name", POSTGRES_FAILURES)
def test_which_postgresql_failures_are_refused_values(postgres: PostgresServer, name: str) -> None:
    sql, parameters, refused = POSTGRES_FAILURES[name]
    database = open_database(postgres.create_database())
    try:
        assert database.is_data_error(failure(database, sql, parameters)) is refused
    finally:
        database.close()
