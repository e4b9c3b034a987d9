"""The outbox's SQLite schema and its migrations (``PRAGMA user_version``).

Version 1 adds ``open_events``: the newest alert of every event that started and has not ended,
kept in the same transaction as the alerts, so after a SIGKILL or power loss the gateway can end
exactly those events at its next start. An outbox from before version 1 is migrated once, by
replaying the alerts it still stores.

Version 2 adds ``evidence``: the evidence image of each start and instant alert that has one, keyed
by the alert's seq and written in the alert's transaction (both exist after a power loss, or
neither). ``data`` becomes NULL when retention prunes the image after its delivery (``pruned_at``
says when); the row stays, so the device can say why an image is gone. Delivery is tracked per image
(``delivered_at``), apart from its alert's: each is its own MQTT message. Alerts from before version
2 carry no evidence, so the migration only adds the table.

Version 3 adds ``event_ids``: per camera, how far the event and track ids committed reached, kept
in the alerts' transaction and never pruned (``outbox_event_ids``). It is migrated from the alerts
the outbox still stores.

Indexes on fields of the stored alerts themselves (their rule, label and frame time) are made at any
version where they are missing, without a new version: SQLite keeps them up to date for any writer,
so an older gateway can still open the file. Without them, listing a rare rule's alerts, or those
before a time long past, read every stored alert's JSON under the outbox's lock (1.2 s and 0.7 s
over 200,000 alerts), holding up the alerts committed meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3

from gateway.delivery import outbox_event_ids
from gateway.domain import Alert, AlertKind
from gateway.protocol.alerts import AlertVerificationError, InvalidAlertError, decode_intact
from gateway.sqlite_types import stored_type
from gateway.wording import counted

logger = logging.getLogger(__name__)

VERSION = 3

_BASE = """
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL,
    committed_at REAL NOT NULL,
    payload BLOB NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS alerts_undelivered ON alerts (seq) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS alerts_by_camera ON alerts (camera_id, seq);
CREATE TABLE IF NOT EXISTS chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""

_OPEN_EVENTS = """
CREATE TABLE open_events (
    event_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL
);
"""

_EVIDENCE = """
CREATE TABLE IF NOT EXISTS evidence (
    seq INTEGER PRIMARY KEY,
    data BLOB,
    size INTEGER NOT NULL,
    delivered_at REAL,
    pruned_at REAL
);
CREATE INDEX IF NOT EXISTS evidence_undelivered ON evidence (seq) WHERE delivered_at IS NULL;
"""

INDEXED_FIELDS = ("rule", "label", "frame_ts")
"""The alert fields ``/v1/events`` filters by that have an index of their own (the camera has its
column, ``alerts_by_camera``); ``frame_ts``'s finds the newest alert before an ``until``."""


def payload_field(field: str) -> str:
    """A top-level field of a stored alert's JSON, as SQL; NULL (so equal to nothing) for a row that is
    no JSON. The indexes are on this expression: a query finds them by writing it alike."""
    return (
        "(CASE WHEN json_valid(CAST(payload AS TEXT)) "
        f"THEN json_extract(CAST(payload AS TEXT), '$.{field}') END)"
    )


def decode_stored(payload: object) -> Alert:
    """The alert a stored payload holds; InvalidAlertError for one that holds none, as for a value of
    another type than the BLOB committed: one bit flipped in a record's header makes SQLite return
    the BLOB as TEXT of the same bytes, or as a number, and such a row is damaged like any other.

    A payload changed after its commit that is still a well-formed alert (a byte of a label or a
    score edited or flipped, the JSON still valid) is damaged too: its hash, which the outbox computed
    over the alert's fields when it wrote them, is computed again. Without it the gateway served such
    an alert as genuine (``/v1/events``) while the audit side rejected it. The signature is not
    checked: a key rotated on purpose leaves the older alerts signed with the key before
    (``outbox_checks.check_key``), and those are genuine. About 9 us an alert: ``/v1/events``' largest
    page (1,001 alerts read) took 28 ms without it and 37 ms with it, off the event loop."""
    if not isinstance(payload, bytes):
        raise InvalidAlertError("", f"stored as {stored_type(payload)}, not a BLOB")
    try:
        return decode_intact(payload)
    except AlertVerificationError as exc:
        raise InvalidAlertError(
            "hash", "does not match the alert's content (changed since its commit)"
        ) from exc


INSERT_EVIDENCE = "INSERT INTO evidence (seq, data, size) VALUES (?, ?, ?)"

UPSERT_OPEN_EVENT = (
    "INSERT INTO open_events (event_id, seq, payload) VALUES (?, ?, ?) "
    "ON CONFLICT (event_id) DO UPDATE SET seq = excluded.seq, payload = excluded.payload"
)
DELETE_OPEN_EVENT = "DELETE FROM open_events WHERE event_id = ?"


class SchemaError(Exception):
    """The file holds a schema this code cannot use (the outbox wraps it in OutboxError)."""


def migrate(db: sqlite3.Connection) -> None:
    """Bring ``db`` (autocommit mode) to VERSION, with the indexes of ``INDEXED_FIELDS``, in one
    transaction; a no-op when it is there.

    Raises SchemaError, changing nothing, for a file from a newer gateway: writing it with this
    schema (and stamping it VERSION) could break the chain or lose what the newer version keeps."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > VERSION:
            raise SchemaError(
                f"schema version {version} was written by a newer edge-gateway (this one knows up to "
                f"{VERSION}); run that version, or move the file aside to start a new chain"
            )
        if version < 1:
            for statement in _BASE.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(_OPEN_EVENTS)
            _backfill_open_events(db)
        if version < 2:
            for statement in _EVIDENCE.split(";"):
                if statement.strip():
                    db.execute(statement)
        if version < 3:
            db.execute(outbox_event_ids.SCHEMA)
            outbox_event_ids.backfill(db)
        _index_fields(db)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        # SQLite rolls back by itself on some errors (an I/O error on the -wal): a ROLLBACK then
        # fails ("no transaction is active"), and its error would replace the one that says why.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _index_fields(db: sqlite3.Connection) -> None:
    """The indexes of ``INDEXED_FIELDS`` that are missing, made over the alerts stored (once: seconds
    for hundreds of thousands of alerts)."""
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    missing = [field for field in INDEXED_FIELDS if f"alerts_by_{field}" not in names]
    if not missing:
        return
    stored = int(db.execute("SELECT count(*) FROM alerts").fetchone()[0])
    logger.info("outbox: indexing %s by %s", counted(stored, "stored alert"), ", ".join(missing))
    for field in missing:
        db.execute(f"CREATE INDEX alerts_by_{field} ON alerts ({payload_field(field)}, seq)")


def _backfill_open_events(db: sqlite3.Connection) -> None:
    """Events whose start is stored and whose end is not, from the alerts still kept."""
    open_events: dict[str, tuple[int, bytes]] = {}
    for seq, payload in db.execute("SELECT seq, payload FROM alerts ORDER BY seq"):
        try:
            event = decode_stored(payload).event
        except InvalidAlertError:
            continue  # unreadable rows were never published either; nothing to end
        if event.kind is AlertKind.END:
            open_events.pop(event.event_id, None)
        elif event.kind in (AlertKind.START, AlertKind.UPDATE):
            open_events[event.event_id] = (int(seq), payload)
    db.executemany(
        UPSERT_OPEN_EVENT, [(event_id, seq, payload) for event_id, (seq, payload) in open_events.items()]
    )
