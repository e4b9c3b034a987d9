"""What a migration fills in from the alerts a store already holds: the columns a new schema version
adds (``gateway.audit.schema``) are given the values the stored payloads carry, as ingest gives them to
each new alert.

A store may hold millions of alerts, so the per-alert columns are read page by page
(``BACKFILL_PAGE_ROWS`` at a time, in (device, seq) order from where the last page ended); the fleet's
columns take one statement and each device's highest alert. All of it runs inside the migration's
locked transaction. A payload that does not read (an edit behind the store's back) is left without the
value: ``audit verify`` reports the edit, and an alert time left out is sought again at the next open.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.protocol.alerts import parse_timestamp

if TYPE_CHECKING:
    from gateway.audit.schema import Execute

__all__ = [
    "BACKFILL_PAGE_ROWS",
    "alert_time",
    "backfill_alert_times",
    "backfill_evidence",
    "backfill_fleet",
    "evidence_digest",
]

BACKFILL_PAGE_ROWS = 1000


def evidence_digest(payload: bytes) -> str | None:
    """The image digest a stored alert payload commits to, None when it carries no evidence."""
    try:
        data = json.loads(payload)
    except ValueError:  # not what was verified at ingest (an edit): audit verify reports it
        return None
    evidence = data.get("evidence") if isinstance(data, dict) else None
    return str(evidence["sha256"]) if isinstance(evidence, dict) and "sha256" in evidence else None


def backfill_evidence(execute: Execute) -> int:
    """Evidence columns from the stored payloads; returns how many alerts were read."""

    def fill(device_id: str, seq: int, payload: bytes) -> None:
        digest = evidence_digest(payload)
        if digest is not None:
            execute(
                "UPDATE audit_alerts SET evidence_sha256 = ?, evidence_missing = 1 "
                "WHERE device_id = ? AND seq = ?",
                (digest, device_id, seq),
            )

    return _each_stored_alert(execute, fill)


def backfill_alert_times(execute: Execute) -> int:
    """``alert_at`` from the stored payloads of the alerts without it; returns how many were given it
    (a payload that does not read is left without, and read again at the next open)."""
    filled = 0

    def fill(device_id: str, seq: int, payload: bytes) -> None:
        nonlocal filled
        alert_at = alert_time(payload)
        if alert_at is not None:
            execute(
                "UPDATE audit_alerts SET alert_at = ? WHERE device_id = ? AND seq = ?",
                (alert_at, device_id, seq),
            )
            filled += 1

    _each_stored_alert(execute, fill, "alert_at IS NULL")
    return filled


def _each_stored_alert(
    execute: Execute, fill: Callable[[str, int, bytes], None], condition: str = "1 = 1"
) -> int:
    """``fill`` called with every stored alert that meets ``condition`` (SQL), read page by page (a
    store may hold millions); returns how many were read."""
    device, seq, count = "", 0, 0
    while True:
        rows = execute(
            "SELECT device_id, seq, payload FROM audit_alerts "
            f"WHERE (device_id > ? OR (device_id = ? AND seq > ?)) AND {condition} "
            f"ORDER BY device_id, seq LIMIT {BACKFILL_PAGE_ROWS}",
            (device, device, seq),
        )
        count += len(rows)
        for row_device, row_seq, payload in rows:
            fill(str(row_device), int(row_seq), bytes(payload))
        if len(rows) < BACKFILL_PAGE_ROWS:
            return count
        device, seq = str(rows[-1][0]), int(rows[-1][1])


def alert_time(payload: bytes) -> float | None:
    """The alert time (``frame_ts``) a stored alert payload names, None when it cannot be read."""
    try:
        data = json.loads(payload)
        return parse_timestamp(str(data["frame_ts"]))
    except (ValueError, KeyError, TypeError):
        return None


def backfill_fleet(execute: Execute) -> int:
    """Fleet columns from the stored alerts; returns how many devices were brought up to date."""
    execute(
        "UPDATE audit_devices SET "
        "alerts_stored = (SELECT COUNT(*) FROM audit_alerts a WHERE a.device_id = audit_devices.device_id), "
        "last_stored_at = (SELECT MAX(received_at) FROM audit_alerts a "
        "WHERE a.device_id = audit_devices.device_id)",
        (),
    )
    rows = execute(
        "SELECT a.device_id, a.payload, a.received_at FROM audit_alerts a JOIN audit_devices d "
        "ON a.device_id = d.device_id AND a.seq = d.max_seq",
        (),
    )
    for device_id, payload, received_at in rows:
        alert_at = alert_time(bytes(payload))
        if alert_at is not None:
            execute(
                "UPDATE audit_devices SET last_alert_at = ?, lag_s = ? WHERE device_id = ?",
                (alert_at, float(received_at) - alert_at, device_id),
            )
    return len(rows)
