"""What the outbox may forget, and when (``outbox.retention_s``, ``outbox.max_bytes``).

Nothing undelivered is ever pruned: not an alert, not an image. Past the retention age, an alert
that was delivered goes, with its delivered image, unless that image is still undelivered (then both
stay). Over ``max_bytes`` (alert payloads plus the images still kept), delivered images go first,
oldest first: the image's bytes are dropped and the row marks it pruned, while its alert stays, so
the chain and ``GET /v1/events/{seq}`` are untouched. Only when every delivered image is gone and
the outbox is still over do the oldest delivered alerts go. ``chain_head`` is never touched: seq and
the chain continue after everything has been pruned.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pruned:
    alerts: int
    """Alerts deleted (with their images)."""
    images: int
    """Images whose bytes were dropped, their alerts kept."""
    over_bytes: int = 0
    """How far the outbox is still over ``max_bytes`` after pruning: undelivered alerts and images,
    which are never pruned (a broker outage longer than the outbox was sized for)."""


def prune(db: sqlite3.Connection, now: float, *, retention_s: float, max_bytes: int) -> Pruned:
    """One transaction on ``db`` (autocommit mode, the caller holds its lock)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        deleted = _delete_delivered(db, "committed_at < ?", now - retention_s)
        excess = stored_bytes(db) - max_bytes
        images = 0
        if excess > 0:
            cutoff, excess = _oldest_covering(
                db.execute(
                    "SELECT seq, size FROM evidence WHERE delivered_at IS NOT NULL AND data IS NOT NULL "
                    "ORDER BY seq"
                ).fetchall(),
                excess,
            )
            if cutoff is not None:
                images = db.execute(
                    "UPDATE evidence SET data = NULL, pruned_at = ? "
                    "WHERE delivered_at IS NOT NULL AND data IS NOT NULL AND seq <= ?",
                    (now, cutoff),
                ).rowcount
        if excess > 0:
            cutoff, excess = _oldest_covering(
                db.execute(
                    "SELECT seq, LENGTH(payload) FROM alerts WHERE delivered_at IS NOT NULL "
                    "AND seq NOT IN (SELECT seq FROM evidence WHERE delivered_at IS NULL) ORDER BY seq"
                ).fetchall(),
                excess,
            )
            if cutoff is not None:
                deleted += _delete_delivered(db, "seq <= ?", cutoff)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return Pruned(deleted, images, max(0, excess))


def stored_bytes(db: sqlite3.Connection) -> int:
    """Alert payloads plus the image bytes still kept."""
    alerts = db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM alerts").fetchone()[0]
    images = db.execute("SELECT COALESCE(SUM(size), 0) FROM evidence WHERE data IS NOT NULL").fetchone()[0]
    return int(alerts) + int(images)


def _delete_delivered(db: sqlite3.Connection, condition: str, value: float) -> int:
    """Delete the delivered alerts matching ``condition`` whose images (if any) are delivered too."""
    db.execute(
        "DELETE FROM evidence WHERE delivered_at IS NOT NULL AND seq IN "
        f"(SELECT seq FROM alerts WHERE delivered_at IS NOT NULL AND {condition})",
        (value,),
    )
    deleted: int = db.execute(
        f"DELETE FROM alerts WHERE delivered_at IS NOT NULL AND {condition} "
        "AND seq NOT IN (SELECT seq FROM evidence)",
        (value,),
    ).rowcount
    return deleted


def _oldest_covering(rows: list[tuple[int, int]], excess: int) -> tuple[int | None, int]:
    """The highest seq of the oldest rows whose sizes add up to ``excess``, and what is left over."""
    cutoff = None
    for seq, size in rows:
        if excess <= 0:
            break
        excess -= int(size)
        cutoff = int(seq)
    return cutoff, excess
