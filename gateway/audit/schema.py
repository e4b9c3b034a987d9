"""The audit store's tables and their migrations, the same on SQLite and PostgreSQL.

``audit_schema`` holds the version a store is at; a store without it is version 1 (the first
release's tables) or new. Opening a store brings it to ``VERSION`` inside the caller's transaction,
which holds the database's write lock (SQLite) or an advisory lock (PostgreSQL), so two subscribers
starting together migrate it once.

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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

VERSION = 2
BACKFILL_PAGE_ROWS = 1000

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


def migrate(execute: Execute, *, blob: str, serial: str) -> int:
    """Bring the store to VERSION (inside the caller's locked transaction); returns the version it
    was at (a new store counts as version 1: its tables are the first release's until migrated)."""
    for statement in _VERSION_1:
        execute(statement.format(blob=blob, serial=serial), ())
    rows = execute("SELECT version FROM audit_schema WHERE id = 1", ())
    found = int(rows[0][0]) if rows else 1
    if found < 2:
        for statement in _VERSION_2:
            execute(statement.format(blob=blob, serial=serial), ())
        backfilled = _backfill_evidence(execute)
        logger.info("audit store schema: version %d -> 2 (%d stored alerts backfilled)", found, backfilled)
    if found != VERSION:
        execute(
            "INSERT INTO audit_schema (id, version) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (VERSION,),
        )
    return found


def evidence_digest(payload: bytes) -> str | None:
    """The image digest a stored alert payload commits to, None when it carries no evidence."""
    try:
        data = json.loads(payload)
    except ValueError:  # not what was verified at ingest (an edit): audit verify reports it
        return None
    evidence = data.get("evidence") if isinstance(data, dict) else None
    return str(evidence["sha256"]) if isinstance(evidence, dict) and "sha256" in evidence else None


def _backfill_evidence(execute: Execute) -> int:
    """Evidence columns from the stored payloads; returns how many alerts were read."""
    device, seq, count = "", 0, 0
    while True:
        rows = execute(
            "SELECT device_id, seq, payload FROM audit_alerts "
            "WHERE device_id > ? OR (device_id = ? AND seq > ?) "
            f"ORDER BY device_id, seq LIMIT {BACKFILL_PAGE_ROWS}",
            (device, device, seq),
        )
        count += len(rows)
        for row_device, row_seq, payload in rows:
            digest = evidence_digest(bytes(payload))
            if digest is not None:
                execute(
                    "UPDATE audit_alerts SET evidence_sha256 = ?, evidence_missing = 1 "
                    "WHERE device_id = ? AND seq = ?",
                    (digest, row_device, row_seq),
                )
        if len(rows) < BACKFILL_PAGE_ROWS:
            return count
        device, seq = str(rows[-1][0]), int(rows[-1][1])
