"""One group commit of the outbox: queued requests numbered, chained and signed into rows, and the
one transaction that writes them with their images, open events and the chain head.

``number`` gives each event of the requests, in queue order, the next seq and the previous alert's
hash; a request with an event that cannot be encoded (a NaN score) fails alone and takes no seq.
``write_rows`` is the transaction itself, run by the outbox's writer thread under its database lock
and retried by it while the disk refuses; it rolls back whatever it began.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from gateway.delivery import outbox_event_ids, outbox_schema
from gateway.domain import Alert, AlertEvent, AlertKind
from gateway.errors import OutboxError
from gateway.protocol.alerts import InvalidAlertError, build_alert_payload

logger = logging.getLogger(__name__)

Row = tuple[int, str, float, bytes, AlertKind, str, bytes | None, int | None]
"""seq, camera_id, committed_at, payload, the event's kind and id for ``open_events``, its image,
its track id (with its id, for ``event_ids``)."""


@dataclass(frozen=True, slots=True)
class Request:
    events: Sequence[AlertEvent]
    evidence: Sequence[bytes | None]
    """Aligned with ``events``: each event's image, None where it has none."""
    future: Future[list[Alert]]

    @property
    def evidence_bytes(self) -> int:
        return sum(len(data) for data in self.evidence if data is not None)


@dataclass(frozen=True, slots=True)
class Numbered:
    """The rows to write, and the requests they came from with each one's alerts (aligned)."""

    rows: list[Row]
    requests: list[Request]
    alerts: list[list[Alert]]
    seq: int
    last_hash: str
    """The chain head once the rows are written."""


def number(
    requests: Sequence[Request], head: tuple[int, str], *, device_id: str, key: bytes, now: float, path: Path
) -> Numbered:
    """Number and sign ``requests`` after the chain head ``head`` (seq, hash); a request that cannot
    be encoded gets its OutboxError (naming ``path``) at once and is left out."""
    seq, previous = head
    rows: list[Row] = []
    batch: list[Request] = []
    results: list[list[Alert]] = []
    for request in requests:
        alerts: list[Alert] = []
        request_rows: list[Row] = []
        try:
            for event, image in zip(request.events, request.evidence, strict=True):
                alert, payload = build_alert_payload(
                    device_id,
                    seq + len(alerts) + 1,
                    event,
                    alerts[-1].hash if alerts else previous,
                    key,
                )
                alerts.append(alert)
                request_rows.append(
                    (
                        alert.seq,
                        event.camera_id,
                        now,
                        payload,
                        event.kind,
                        event.event_id,
                        image,
                        event.track_id,
                    )
                )
        except InvalidAlertError as exc:
            # One caller's unencodable event (a NaN score) must not fail the others in the batch.
            request.future.set_exception(OutboxError(f"outbox {path}: cannot encode alert: {exc}"))
            continue
        seq, previous = alerts[-1].seq, alerts[-1].hash
        rows += request_rows
        batch.append(request)
        results.append(alerts)
    return Numbered(rows, batch, results, seq, previous)


def write_rows(db: sqlite3.Connection, rows: Sequence[Row], seq: int, last_hash: str) -> None:
    """One transaction: the alerts, their images, the open events they start, update or end, how far
    their cameras' ids reached, and the chain head (``seq``, ``last_hash``). The caller holds the
    database lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT INTO alerts (seq, camera_id, committed_at, payload) VALUES (?, ?, ?, ?)",
            [(row[0], row[1], row[2], row[3]) for row in rows],
        )
        db.executemany(
            outbox_schema.INSERT_EVIDENCE,
            [(row[0], row[6], len(row[6])) for row in rows if row[6] is not None],
        )
        for row_seq, _camera, _at, payload, kind, event_id, _image, _track in rows:
            if kind is AlertKind.START or kind is AlertKind.UPDATE:
                db.execute(outbox_schema.UPSERT_OPEN_EVENT, (event_id, row_seq, payload))
            elif kind is AlertKind.END:
                db.execute(outbox_schema.DELETE_OPEN_EVENT, (event_id,))
        outbox_event_ids.record(db, [(row[1], row[5], row[7]) for row in rows])
        db.execute(
            "INSERT INTO chain_head (id, seq, hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (seq, last_hash),
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                # SQLite may have rolled back on its own after an I/O error.
                logger.debug("rollback after a failed commit: %s", exc)
        raise


def with_images(
    events: Sequence[AlertEvent], images: Sequence[bytes | None]
) -> tuple[list[AlertEvent], list[bytes | None]]:
    """Each event with its image. An event whose image is missing or not the size its alert says
    (a caller's bug, logged) is committed without evidence rather than not at all."""
    paired_events, paired_images = [], []
    for index, event in enumerate(events):
        data = images[index] if len(images) == len(events) else None
        kept = event
        if event.evidence is not None and (data is None or len(data) != event.evidence.bytes):
            logger.error("outbox: no image of %d bytes for event %s: committed without", event.evidence.bytes,
                         event.event_id)  # fmt: skip
            kept = dataclasses.replace(event, evidence=None)
        paired_events.append(kept)
        paired_images.append(data if kept.evidence is not None else None)
    return paired_events, paired_images
