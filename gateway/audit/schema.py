"""The audit store's tables and their migrations, the same on SQLite and PostgreSQL.

``audit_schema`` holds the version a store is at; a store without it is version 1 (the first
release's tables) or new. Opening a store brings it up to ``VERSION`` (a newer store keeps its
own: every version only adds) inside the caller's transaction, which holds the database's write
lock (SQLite) or an advisory lock (PostgreSQL), so two subscribers starting together migrate it once.

Version 2 (alert v2 and evidence):

- ``audit_alerts.evidence_sha256``: the image digest the signed alert commits to (NULL: none, as for
  every v1 alert and every v2 ``update``/``end``), and ``evidence_missing``: 1 while no image with
  that digest is stored. A partial index on the missing ones keeps the per-device count and the
  replay ranges cheap however large the store grows.
- ``audit_evidence``: images by (device, seq, digest). ``verified`` 1: the digest is the one in the
  stored, signed alert; 0: held until that alert arrives (images may come first). Two different
  images held for one seq are both kept until the alert says which one is genuine.

The migration backfills the evidence columns from the stored payloads, page by page, so a store
that already held v2 alerts reports their evidence as missing until the devices replay it.

Version 3 (fleet state, ``gateway.audit.fleet``), on ``audit_devices``, so that every audit instance
answers the same: ``alerts_stored`` (the count of stored alerts, kept in the alert's transaction:
``max_seq - alerts_stored`` is the number of missing alerts without a scan), ``last_alert_at`` (the
alert time, ``frame_ts``, of the highest seq stored), ``last_stored_at`` and ``lag_s`` (when the
most recently stored alert arrived, and how long after its alert time), and the device's
``status`` from its retained status topic (``online``/``offline``; NULL until one arrives) with the
device's ``status_ts`` and the ``status_received_at`` that orders writes from several instances.
The migration backfills the counts and times from the stored alerts.

Version 4: ``audit_devices.clock_offset_s``, the device's clock minus the audit's, measured when a
live ``online`` status arrives (its ``ts`` is the device's time of sending; a retained copy is
older than its arrival and measures nothing). NULL until one is measured. ``lag_s`` mixes delivery
delay with that offset; the fleet view tells them apart with it.

Version 5 (bounds, ``gateway.audit.bounds``): ``audit_rejected_dropped``, per device (``''``: the
rejected messages whose topic names none) the count of rejected messages dropped to keep the table
bounded, so the rejected counts stay what arrived; and a partial index on the images held before
their alert (``verified = 0``), which the bounds on them read.

Version 6: ``audit_rejected.fingerprint``, what identifies a rejected message by what it carries
(``gateway.audit.rejections``: its topic, which names the device, its bytes, which hold its seq and
hash, and the reason code), unique, so that a message the broker hands over again (its
acknowledgement lost in a reconnect) or a device sends again is recorded once. NULL on the rows
stored before it (and on those an older release writes), which an index of unique values allows
any number of.

Version 7: ``audit_rejected_forgotten``, the fingerprints of the rejected messages the bounds
dropped (the newest of them, within the bound on rejected messages in all), so that a copy of one
arriving later is still answered ``duplicate`` instead of being recorded and counted again.

Version 8: ``audit_alerts.alert_at``, the alert time (``frame_ts``, seconds since the epoch) of each
stored alert, and an index on (device, seq, alert time), so that a device's alerts of an hour are
read in seq order from the index alone, without parsing a payload or reading a row that is not
shown (``GET /v1/devices/{id}/alerts?since=&until=``; the last hour's first page of one device of
500,000 alerts in 32 ms on SQLite, 169 reading the rows; 41 bytes an alert on PostgreSQL, no write
cost measured: ``bench/audit_time_index.py``). The migration backfills it from the stored
payloads, page by page. NULL where a payload does not read (an edit behind the store's back), and
on the rows an older release writes into a store at version 8 until the next open of the store by
this release gives them their time (a partial index finds them without reading the others): such
rows match no time bound meanwhile.

``layout`` tells what a store holds without changing it (``audit verify`` opens a store read-only).
What a migration fills in from the alerts already stored is ``gateway.audit.schema_backfill``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from gateway.audit.schema_backfill import backfill_alert_times, backfill_evidence, backfill_fleet
from gateway.errors import AuditError
from gateway.printable import printable
from gateway.wording import names_listed

logger = logging.getLogger(__name__)

VERSION = 8
STORE_TABLE = "audit_alerts"
"""The table every audit store has had since its first version: a database without it holds none."""

Execute = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]

_VERSION_1 = (
    """CREATE TABLE IF NOT EXISTS audit_alerts (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        payload {blob} NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS audit_rejected (
        id {serial},
        device_id TEXT,
        seq BIGINT,
        topic TEXT NOT NULL,
        payload {blob} NOT NULL,
        reason TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS audit_devices (
        device_id TEXT PRIMARY KEY,
        contiguous_seq BIGINT NOT NULL,
        max_seq BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_rejected_device ON audit_rejected (device_id)",
    """CREATE TABLE IF NOT EXISTS audit_schema (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    )""",
)

_VERSION_2 = (
    "ALTER TABLE audit_alerts ADD COLUMN evidence_sha256 TEXT",
    "ALTER TABLE audit_alerts ADD COLUMN evidence_missing SMALLINT NOT NULL DEFAULT 0",
    """CREATE TABLE audit_evidence (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        data {blob} NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        verified SMALLINT NOT NULL,
        PRIMARY KEY (device_id, seq, sha256)
    )""",
    "CREATE INDEX audit_alerts_evidence_missing ON audit_alerts (device_id, seq) WHERE evidence_missing = 1",
)

_VERSION_3 = (
    "ALTER TABLE audit_devices ADD COLUMN alerts_stored BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE audit_devices ADD COLUMN last_alert_at DOUBLE PRECISION",
    "ALTER TABLE audit_devices ADD COLUMN last_stored_at DOUBLE PRECISION",
    "ALTER TABLE audit_devices ADD COLUMN lag_s DOUBLE PRECISION",
    "ALTER TABLE audit_devices ADD COLUMN status TEXT",
    "ALTER TABLE audit_devices ADD COLUMN status_ts TEXT",
    "ALTER TABLE audit_devices ADD COLUMN status_received_at DOUBLE PRECISION",
)

_VERSION_4 = ("ALTER TABLE audit_devices ADD COLUMN clock_offset_s DOUBLE PRECISION",)

DROPPED_TABLE = "audit_rejected_dropped"
DROPPED_VERSION = 5
NO_DEVICE = ""
"""The ``audit_rejected_dropped`` key of rejected messages whose topic names no device."""
_VERSION_5 = (
    f"""CREATE TABLE IF NOT EXISTS {DROPPED_TABLE} (
        device_id TEXT PRIMARY KEY,
        dropped BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_evidence_held ON audit_evidence (device_id, received_at) "
    "WHERE verified = 0",
)

_VERSION_6 = (
    "ALTER TABLE audit_rejected ADD COLUMN fingerprint TEXT",
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_rejected_fingerprint ON audit_rejected (fingerprint)",
)

FORGOTTEN_TABLE = "audit_rejected_forgotten"
_VERSION_7 = (
    f"""CREATE TABLE IF NOT EXISTS {FORGOTTEN_TABLE} (
        id {{serial}},
        fingerprint TEXT NOT NULL UNIQUE
    )""",
)

_VERSION_8 = (
    "ALTER TABLE audit_alerts ADD COLUMN alert_at DOUBLE PRECISION",
    "CREATE INDEX IF NOT EXISTS audit_alerts_alert_at ON audit_alerts (device_id, seq, alert_at)",
    # The alerts without their time, found at each open without reading the others.
    "CREATE INDEX IF NOT EXISTS audit_alerts_without_time ON audit_alerts (device_id, seq) "
    "WHERE alert_at IS NULL",
)


def migrate(execute: Execute, *, blob: str, serial: str) -> int:
    """Bring the store to VERSION (inside the caller's locked transaction); returns the version it
    was at (a new store counts as version 1: its tables are the first release's until migrated).

    A store already at VERSION (or newer) is not migrated: no statement that needs more than reading
    and writing its rows, so ``audit serve`` may run as a database role that can only read and write
    the tables (the ``CREATE ... IF NOT EXISTS`` of every open needed the right to create in the
    schema and to own the tables, and such a role could not start). Its alerts stored without their
    time, by an older release running beside this one, are given it."""
    sqlite = blob == "BLOB"
    if _tables(execute, sqlite=sqlite) >= {"audit_schema", "audit_alerts"}:
        stored = _stored_version(execute, sqlite=sqlite)
        if stored is not None and stored >= VERSION:
            filled = backfill_alert_times(execute)
            if filled:
                logger.info("audit store: %d alerts an older release stored given their alert time", filled)
            return stored
    for statement in _VERSION_1:
        execute(statement.format(blob=blob, serial=serial), ())
    stored = _stored_version(execute, sqlite=sqlite)
    found = 1 if stored is None else stored
    # A release before this one, opening a store a newer one had migrated, wrote its own lower
    # version back (it knew no better): each step is taken only where its columns are missing.
    if found < 2 and "evidence_sha256" not in _columns(execute, "audit_alerts", sqlite=sqlite):
        for statement in _VERSION_2:
            execute(statement.format(blob=blob, serial=serial), ())
        backfilled = backfill_evidence(execute)
        logger.info("audit store schema: version %d -> 2 (%d stored alerts backfilled)", found, backfilled)
    if found < 3:
        if "alerts_stored" not in _columns(execute, "audit_devices", sqlite=sqlite):
            for statement in _VERSION_3:
                execute(statement, ())
        # Counted again even where the columns were there: a version 2 release kept no counts.
        devices = backfill_fleet(execute)
        logger.info("audit store schema: version %d -> 3 (%d devices backfilled)", max(found, 2), devices)
    if found < 4 and "clock_offset_s" not in _columns(execute, "audit_devices", sqlite=sqlite):
        for statement in _VERSION_4:
            execute(statement, ())
        logger.info("audit store schema: version %d -> 4", max(found, 3))
    if found < 5:
        for statement in _VERSION_5:
            execute(statement, ())
        logger.info("audit store schema: version %d -> 5", max(found, 4))
    if found < 6 and "fingerprint" not in _columns(execute, "audit_rejected", sqlite=sqlite):
        for statement in _VERSION_6:
            execute(statement, ())
        logger.info("audit store schema: version %d -> 6", max(found, 5))
    if found < 7:
        for statement in _VERSION_7:
            execute(statement.format(serial=serial), ())
        logger.info("audit store schema: version %d -> 7", max(found, 6))
    if found < 8:
        if "alert_at" not in _columns(execute, "audit_alerts", sqlite=sqlite):
            execute(_VERSION_8[0], ())
        for statement in _VERSION_8[1:]:
            execute(statement, ())
        # Filled again where the column was there: a release before it, which wrote its own version
        # back, stored alerts without their time.
        backfilled = backfill_alert_times(execute)
        logger.info(
            "audit store schema: version %d -> 8 (%d stored alerts given their time)",
            max(found, 7),
            backfilled,
        )
    if found < VERSION:
        execute(
            "INSERT INTO audit_schema (id, version) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (VERSION,),
        )
    return found


class DamagedSchemaError(AuditError):
    """``audit_schema`` holds a value no version can be read from (the store wraps it, naming the
    database)."""


class ForeignTablesError(AuditError):
    """A database holding tables, none of them an audit store's (the store wraps it, naming the
    database)."""


def refuse_foreign(execute: Execute, *, sqlite: bool) -> None:
    """ForeignTablesError when the database holds tables and no audit store: another program's
    database, named by mistake. Its tables are left as they were: ``migrate`` would add the store's
    beside them, and the wrong database would be the audit log from then on, the store it was meant
    to be never written again."""
    tables = sorted(_tables(execute, sqlite=sqlite))
    if not tables or STORE_TABLE in tables:
        return
    kind, advice = (
        (
            "a SQLite file",
            "point database at the audit store's file, or move this file aside to start a new store",
        )
        if sqlite
        else (
            "a database",
            "point database at the audit store's database, or give the store a database of its own",
        )
    )
    raise ForeignTablesError(
        f"it is not an audit store ({kind} whose tables are {names_listed(tables)}): {advice}"
    )


def _stored_version(execute: Execute, *, sqlite: bool) -> int | None:
    """The version ``audit_schema`` holds, None when it holds none; AuditError when it holds a value
    that is no integer (SQLite keeps any value in any column): no version can be taken from it, and
    migrating as if from version 1 would redo steps over the tables it has."""
    rows = execute("SELECT version FROM audit_schema WHERE id = 1", ())
    if not rows:
        return None
    (version,) = rows[0]
    if isinstance(version, bool) or not isinstance(version, int):
        shown = printable(str(version))[:40]
        raise DamagedSchemaError(
            f"the store's schema version is damaged: audit_schema holds {shown!r}, not an integer; "
            f"{_version_advice(execute, sqlite=sqlite)}"
        )
    return version


def version_problem(execute: Execute, *, sqlite: bool) -> str | None:
    """What is wrong with the version a store of version 2 or later holds in ``audit_schema`` (every
    such store was given one), read without changing it; None when it is a whole number. ``audit
    serve`` refuses a version that is no integer, and writes one back where there is none, without
    a word: either is an edit behind the store's back, which ``audit verify`` reports."""
    if "audit_schema" not in _tables(execute, sqlite=sqlite):
        return (
            "the store's schema version is missing: it has no audit_schema table; "
            f"{_version_advice(execute, sqlite=sqlite)}"
        )
    try:
        if _stored_version(execute, sqlite=sqlite) is None:
            return (
                "the store's schema version is missing: audit_schema holds no row; "
                f"{_version_advice(execute, sqlite=sqlite)}"
            )
    except DamagedSchemaError as exc:
        return str(exc)
    return None


def _version_advice(execute: Execute, *, sqlite: bool) -> str:
    return (
        "set it to the version the store was at (its tables are those of version "
        f"{layout(execute, sqlite=sqlite)}), or restore the store from a backup"
    )


def layout(execute: Execute, *, sqlite: bool) -> int:
    """The version the store's tables are at, read without changing anything: from the tables and
    columns present, not from ``audit_schema`` (a release that wrote a lower version back left
    newer tables in place)."""
    tables = _tables(execute, sqlite=sqlite)
    devices = _columns(execute, "audit_devices", sqlite=sqlite) if "audit_devices" in tables else set()
    found = 1
    for version, present in (
        (2, "audit_evidence" in tables),
        (3, "alerts_stored" in devices),
        (4, "clock_offset_s" in devices),
        (5, DROPPED_TABLE in tables),
        (
            6,
            "audit_rejected" in tables
            and "fingerprint" in _columns(execute, "audit_rejected", sqlite=sqlite),
        ),
        (7, FORGOTTEN_TABLE in tables),
        (8, "alert_at" in _columns(execute, "audit_alerts", sqlite=sqlite)),
    ):
        if not present:
            break
        found = version
    return found


def _tables(execute: Execute, *, sqlite: bool) -> set[str]:
    if sqlite:
        rows = execute("SELECT name FROM sqlite_master WHERE type = 'table'", ())
    else:
        # Tables only (information_schema also lists views), and none an extension made: PostGIS
        # puts spatial_ref_sys in the schema it is created in, which is no other program's data.
        rows = execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT EXISTS ("
            "SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "AND d.deptype = 'e')",
            (),
        )
    return {str(row[0]) for row in rows}


def _columns(execute: Execute, table: str, *, sqlite: bool) -> set[str]:
    if sqlite:
        rows = execute("SELECT name FROM pragma_table_info(?)", (table,))
    else:
        rows = execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
    return {str(row[0]) for row in rows}
