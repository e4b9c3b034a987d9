"""What the outbox answers about what it holds: alerts and images to send (pending, replay), single
alerts and images for the HTTP API, recent alerts, open events, how far the event ids given out
reached, and counts.

Every read takes the outbox's database lock, so reads from the publisher, the API and the writer
never share the connection at once. Payloads and images come back exactly as committed: replays are
byte-identical by construction.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.delivery import outbox_event_ids
from gateway.delivery.outbox_event_ids import IdsCommitted
from gateway.delivery.outbox_schema import decode_stored, payload_field
from gateway.domain import Alert, AlertEvent, EvidenceRecord
from gateway.errors import OutboxError, OutboxUnavailableError
from gateway.printable import printable
from gateway.protocol.alerts import InvalidAlertError, format_timestamp

logger = logging.getLogger(__name__)

_LAST_FOUR_DIGIT_YEAR_S = 253_402_300_799.999
"""9999-12-31T23:59:59.999Z, about the latest time ``format_timestamp`` writes with a four-digit year
(a double holds no microseconds at that size)."""

_RECENT_WINDOW = 256
"""How many of the newest alerts are looked at for the newest one before an ``until`` before the frame
time's index is read."""


_PASSING_CODES = frozenset({5, 6, 7, 9, 10, 13, 14, 15})
"""SQLite's primary result codes whose cause is outside the file's content, so that the same read may
succeed later: BUSY, LOCKED, NOMEM, INTERRUPT, IOERR (a USB disk briefly unplugged), FULL, CANTOPEN,
PROTOCOL (another process holding the write-ahead log's locks)."""
_PASSING_MESSAGES = frozenset(
    {
        "database is locked",
        "database table is locked",
        "out of memory",
        "interrupted",
        "disk I/O error",
        "database or disk is full",
        "unable to open database file",
        "locking protocol",
    }
)
"""Their messages, as Python before 3.11 gives no code."""


def read_error(path: Path, exc: sqlite3.Error) -> OutboxError:
    """``exc`` of a read of the outbox at ``path`` as the OutboxError to raise: OutboxUnavailableError
    when its cause passes (``_PASSING_CODES``), so that ``/v1/status`` stops naming it once reads
    succeed again."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    passing = code & 0xFF in _PASSING_CODES if isinstance(code, int) else str(exc) in _PASSING_MESSAGES
    error = OutboxUnavailableError if passing else OutboxError
    return error(f"outbox {path}: read failed: {exc}")


def _stored_time(bound: float) -> str:
    """``bound`` as a stored ``frame_ts`` is written, to compare with it as text."""
    return format_timestamp(min(max(bound, 0.0), _LAST_FOUR_DIGIT_YEAR_S))


@dataclass(frozen=True, slots=True)
class StoredAlert:
    seq: int
    payload: bytes
    """Exactly the bytes committed and published."""


@dataclass(frozen=True, slots=True)
class StoredEvidence:
    seq: int
    """The seq of the alert the image belongs to (its topic is ``{prefix}/{device_id}/evidence/{seq}``)."""
    data: bytes
    """Exactly the bytes committed, whose digest is in the alert."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    last_seq: int
    pending: int
    stored: int
    evidence_pending: int = 0
    """Images not yet acknowledged by the broker."""


STATS_SQL = (
    "SELECT (SELECT COUNT(*) FROM alerts WHERE delivered_at IS NULL), (SELECT COUNT(*) FROM alerts), "
    "(SELECT COUNT(*) FROM evidence WHERE delivered_at IS NULL)"
)
"""Counts that read an index each, under the lock commits wait for, on every ``/v1/status`` (the
console's refreshes, a monitor's polls). The images kept are not counted: with no index of their own
that reads every evidence row (11 ms over 67,000), and nothing shows the number."""


_AS_STORED = "CAST(payload AS BLOB)"
"""A payload as the bytes the file holds, to publish: one bit flipped in its record's header can make
SQLite return it as TEXT (of the same bytes), which is sent as they are, as any damaged row is (the
audit side checks it); ``decode_stored`` names it damaged wherever the gateway reads it itself."""


class OutboxReads:
    """The reading half of ``Outbox``; the writing half sets these attributes up."""

    path: Path
    _db: sqlite3.Connection
    _db_lock: threading.Lock
    _last_seq: int

    def pending(self, after_seq: int = 0, limit: int = 1000) -> list[StoredAlert]:
        """Undelivered alerts with seq > ``after_seq``, in seq order."""
        return [
            StoredAlert(int(seq), bytes(payload))
            for seq, payload in self._rows(
                f"SELECT seq, {_AS_STORED} FROM alerts WHERE delivered_at IS NULL AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        ]

    def replay(self, from_seq: int, to_seq: int, limit: int = 100_000) -> list[StoredAlert]:
        """Stored alerts in ``from_seq..to_seq`` (inclusive), byte-identical to what was published."""
        return [
            StoredAlert(int(seq), bytes(payload))
            for seq, payload in self._rows(
                f"SELECT seq, {_AS_STORED} FROM alerts WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?",
                (from_seq, to_seq, limit),
            )
        ]

    def pending_evidence(self, after_seq: int = 0, limit: int = 100) -> list[StoredEvidence]:
        """Undelivered images of alerts with seq > ``after_seq``, in seq order."""
        return [
            StoredEvidence(int(seq), bytes(data))
            for seq, data in self._rows(
                "SELECT seq, CAST(data AS BLOB) FROM evidence WHERE delivered_at IS NULL "
                "AND data IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        ]

    def replay_evidence(self, from_seq: int, to_seq: int, limit: int = 100) -> list[StoredEvidence]:
        """Images still kept of the alerts in ``from_seq..to_seq`` (inclusive), as committed."""
        return [
            StoredEvidence(int(seq), bytes(data))
            for seq, data in self._rows(
                "SELECT seq, CAST(data AS BLOB) FROM evidence WHERE seq BETWEEN ? AND ? AND data IS NOT NULL "
                "ORDER BY seq LIMIT ?",
                (from_seq, to_seq, limit),
            )
        ]

    def alert(self, seq: int) -> Alert | None:
        """The stored alert ``seq``; None when it was never committed or has been pruned."""
        rows = self._rows("SELECT payload FROM alerts WHERE seq = ?", (seq,))
        if not rows:
            return None
        try:
            return decode_stored(rows[0][0])
        except InvalidAlertError as exc:
            raise OutboxError(f"outbox {self.path}: alert seq {seq} is stored damaged: {exc}") from exc

    def evidence(self, seq: int) -> EvidenceRecord | None:
        """The image of alert ``seq`` (its bytes, or when they were pruned); None when there is none."""
        rows = self._rows("SELECT CAST(data AS BLOB), pruned_at FROM evidence WHERE seq = ?", (seq,))
        if not rows:
            return None
        data, pruned_at = rows[0]
        return EvidenceRecord(seq, None if data is None else bytes(data), pruned_at)

    def recent_alerts(
        self,
        limit: int,
        camera_id: str | None = None,
        before_seq: int | None = None,
        *,
        rule: str | None = None,
        label: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Alert]:
        """Newest first, older than ``before_seq`` when given (gateway.api.ports.EventLog)."""
        conditions: list[str] = []
        parameters: list[object] = []
        if camera_id is not None:
            conditions.append("camera_id = ?")
            parameters.append(camera_id)
        for field, wanted in (("rule", rule), ("label", label)):
            if wanted is not None:
                # Read from the stored alert itself; a damaged row (no JSON) matches nothing rather
                # than failing the whole list.
                conditions.append(f"{payload_field(field)} = ?")
                parameters.append(wanted)
        # A stored frame_ts has one fixed form (alerts.format_timestamp), so a bound written in it
        # compares as text exactly as the times compare; outside the years 1970 to 9999 it would not
        # (no four-digit year): such a bound is taken at the nearer end, where it compares the same.
        for comparison, bound in ((">=", since), ("<", until)):
            if bound is not None:
                conditions.append(f"{payload_field('frame_ts')} {comparison} ?")
                parameters.append(_stored_time(bound))
        if until is not None:
            # Read down from the newest alert before ``until``, not from the newest of all (every one
            # in between read and left): an alert's seq and its time need not rise together (cameras,
            # clocks), so the frame time's index finds it.
            newest = self._newest_seq_before(_stored_time(until))
            if newest is not None:
                conditions.append("seq <= ?")
                parameters.append(newest)
        alerts: list[Alert] = []
        # A damaged row is left out, and the rows after it are read in its place: "at most limit"
        # must mean "limit unless there are fewer", or a caller reading one more than it shows to
        # learn whether an older page exists would take a damaged row for the end of the log.
        while len(alerts) < limit:
            missing = limit - len(alerts)
            page_conditions = conditions if before_seq is None else [*conditions, "seq < ?"]
            page_parameters = parameters if before_seq is None else [*parameters, before_seq]
            where = f"WHERE {' AND '.join(page_conditions)} " if page_conditions else ""
            sql = f"SELECT seq, payload FROM alerts {where}ORDER BY seq DESC LIMIT ?"
            rows = self._rows(sql, (*page_parameters, missing))
            for seq, payload in rows:
                try:
                    alerts.append(decode_stored(payload))
                except InvalidAlertError as exc:
                    # One damaged row (a disk fault) must not hide every other alert from the list.
                    logger.error(
                        "outbox %s: alert seq %d is stored damaged, left out of the list: %s",
                        self.path,
                        seq,
                        exc,
                    )
            if len(rows) < missing:
                break
            before_seq = rows[-1][0]
        return alerts

    def _newest_seq_before(self, frame_ts: str) -> int | None:
        """The highest seq of an alert whose ``frame_ts`` is before ``frame_ts`` (as stored), 0 when
        there is none; None when every alert is, which needs no search."""
        latest = self._rows(f"SELECT max({payload_field('frame_ts')}) FROM alerts", ())[0][0]
        if latest is None or latest < frame_ts:
            return None
        # An ``until`` is mostly just below the newest alerts, where the frame time's index would read
        # nearly every entry (21 ms over 200,000 alerts): the newest few are looked at first (0.3 ms).
        # One found among them is the answer, as every seq outside them is lower.
        recent = (
            "SELECT max(seq) FROM "
            f"(SELECT seq, payload FROM alerts ORDER BY seq DESC LIMIT {_RECENT_WINDOW}) "
            f"WHERE {payload_field('frame_ts')} < ?"
        )
        found = self._rows(recent, (frame_ts,))[0][0]
        if found is not None:
            return int(found)
        sql = (
            f"SELECT max(seq) FROM alerts INDEXED BY alerts_by_frame_ts WHERE {payload_field('frame_ts')} < ?"
        )
        newest = self._rows(sql, (frame_ts,))[0][0]
        return 0 if newest is None else int(newest)

    def open_events(self) -> list[AlertEvent]:
        """The newest alert of every event that started and has not ended, oldest first."""
        rows = self._rows("SELECT event_id, seq, payload FROM open_events ORDER BY seq", ())
        events = []
        for event_id, seq, payload in rows:
            try:
                events.append(decode_stored(payload).event)
            except InvalidAlertError as exc:
                # A row the disk damaged must not keep the gateway from starting: the same alert is
                # in ``alerts`` too, and an event that neither holds whole cannot be ended.
                event = self._open_event_from_alerts(event_id, seq, exc)
                if event is not None:
                    events.append(event)
        return events

    def committed_event_ids(self) -> dict[str, IdsCommitted]:
        """Per camera, how far the event and track ids committed reached, alerts pruned since
        included (``outbox_event_ids``): a restarted decider continues its ids past them (its clock
        may be behind the previous run's)."""
        try:
            with self._db_lock:
                return outbox_event_ids.read(self._db)
        except sqlite3.Error as exc:
            raise read_error(self.path, exc) from exc

    def _open_event_from_alerts(
        self, event_id: str, seq: int, damage: InvalidAlertError
    ) -> AlertEvent | None:
        problem: Exception = damage
        try:
            alert = self.alert(seq)
        except OutboxError as exc:
            alert, problem = None, exc
        if alert is not None and alert.event.event_id == event_id:
            logger.warning(
                "outbox %s: open event %s is stored damaged (%s); read from its alert seq %d",
                self.path,
                printable(event_id),
                problem,
                seq,
            )
            return alert.event
        logger.error(
            "outbox %s: open event %s (alert seq %d) is stored damaged and its alert is %s: it cannot "
            "be ended (%s)",
            self.path,
            printable(event_id),
            seq,
            "gone or damaged too" if alert is None else "another event's",
            problem,
        )
        return None

    def stats(self) -> OutboxStats:
        (pending, stored, evidence_pending) = self._rows(STATS_SQL, ())[0]
        return OutboxStats(self._last_seq, int(pending), int(stored), int(evidence_pending))

    def _rows(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            with self._db_lock:
                return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise read_error(self.path, exc) from exc
