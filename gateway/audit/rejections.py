"""Writing the rejected table (``audit_rejected``): each message the audit store turns away, with
its topic, raw payload and reason, once.

A message is identified by what it carries (``fingerprint``: its topic, which names the device, its
bytes, which hold the seq and hash, and the reason code), and the column is unique: a rejected
message the broker hands over again (QoS 1: the audit's acknowledgement lost in a reconnect) or a
device sends again is recorded once, so a device's rejected count is of the messages rejected, not
of their deliveries. The copy is answered ``duplicate``, like the copy of a stored alert. Each
writer locks the messages it records by fingerprint, in one shared order, before it looks them up
(``Database.lock_rejections``): two instances handed the same messages in opposite orders wait for
each other instead of deadlocking on the unique index, and the second finds the first's rows. Every
rejection of a transaction is locked in that one acquisition: a held image that its alert refuses,
found while the alert's device is written, is ``defer``-red to it. A lock key is only part of a
fingerprint, so two messages may share one; locked as they were found, the held image's key was
held while the batch's lower keys were waited for, and two writers deadlocked. The rows themselves
are inserted in arrival order (held images first: they came before the batch), so their ids still
order them for the bounds. (A copy
that arrives after the bounds dropped the row is a duplicate too: the bounds keep the dropped rows'
fingerprints, the newest of them within the bound on rejected messages in all.)
A message refused only for the keys in force (``signature``, ``unknown_device``) that is byte for
byte an alert already stored, or an image stored as a stored alert's evidence, is answered
``duplicate`` too, and not recorded: its device was taken out of the keys file or re-keyed since,
and the broker handed the stored message over again (or the device replayed it).

A rejection row the database refuses is kept with its text escaped; only a message not even that
can hold is dropped, logged as an error. The devices whose rows were written are ``touched``, for
the store to keep their rows within bounds (``gateway.audit.bounds``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from gateway.audit.database import BINDING_ERRORS, Database
from gateway.audit.records import IngestResult, ReceivedMessage, RejectReason
from gateway.audit.schema import FORGOTTEN_TABLE
from gateway.printable import printable
from gateway.protocol.alerts import InvalidAlertError, decode_alert

__all__ = ["REJECTION_INSERT", "RejectionRecorder", "escaped", "fingerprint"]

logger = logging.getLogger(__name__)

_KEY_REASONS = frozenset({RejectReason.SIGNATURE, RejectReason.UNKNOWN_DEVICE})
"""Rejections that depend on the keys in force, not on the message alone."""
LOOKUP_CHUNK = 400
"""Fingerprints per look-up (two ``IN (...)`` lists of them): well under SQLite's limit on bound
parameters."""

REJECTION_INSERT = (
    "INSERT INTO audit_rejected (device_id, seq, topic, payload, reason, received_at, fingerprint) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
"""Another writer may record the same message between the look-up and the insert (two instances,
each handed a copy): the unique fingerprint keeps one row."""

Row = tuple[str | None, int | None, str, bytes, str, float, str]
"""device_id, seq, topic, payload, reason, received_at, fingerprint."""


def fingerprint(topic: str, payload: bytes, reason: str) -> str:
    """What identifies a rejected message: the same bytes on the same topic, refused for the same
    reason (code, not the detail text, which may name stored state that changed in between)."""
    digest = hashlib.sha256()
    for part in (
        topic.encode("utf-8", "backslashreplace"),
        payload,
        reason.encode("ascii", "backslashreplace"),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _storable(text: str) -> str:
    """A reason as a text column takes it: PostgreSQL's refuses NUL, and no database driver encodes
    a lone surrogate; a payload can put either in a field name that the reason repeats."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def escaped(text: str) -> str:
    """Text any database takes, whatever its encoding: ASCII, everything else (NUL included)
    written as a Python escape."""
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\x00", "\\x00")


class RejectionRecorder:
    """Rejection rows, written inside the store's open transaction (it owns the connection)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._failures = (*database.errors, *BINDING_ERRORS)
        """What a statement raises when it fails; ``database.is_data_error`` tells which are a
        refused value and which an outage."""
        self.touched: set[str | None] = set()
        """The devices (None: no device) rows were written for since the store last cleared it."""
        self._deferred: list[Row] = []
        """Rejections found while the open transaction wrote its batch, recorded with the batch's."""

    def begin(self) -> None:
        """A transaction starts: nothing touched or deferred yet."""
        self.touched.clear()
        self._deferred.clear()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """The database's savepoint: what the block deferred is undone with what it wrote."""
        kept = len(self._deferred)
        try:
            with self._database.savepoint():
                yield
        except BaseException:
            del self._deferred[kept:]
            raise

    def defer(self, row: tuple[str | None, int | None, str, bytes, str, float], code: str) -> None:
        """A rejection (rejected for the reason ``code``) found while the batch is written, recorded
        with the batch's (``record_all``, or ``lock`` then ``record_deferred``), unless that message
        is recorded already."""
        self._deferred.append((*row, fingerprint(row[2], row[3], code)))

    def record_all(self, rejections: list[tuple[IngestResult, ReceivedMessage]]) -> list[bool]:
        """Every new row, those deferred included, in one statement: a refusal fails it, for the
        store to write them one by one. Per rejection, whether it was new (False: that message is
        recorded already, or is the exact copy of a stored alert)."""
        rows = [_row(result, message) for result, message in rejections]
        deferred, self._deferred = self._deferred, []
        self._database.lock_rejections(row[6] for row in (*deferred, *rows))
        recorded = self._recorded(row[6] for row in (*deferred, *rows))
        first = [row for row in _first_of_each(deferred) if row[6] not in recorded]
        recorded.update(row[6] for row in first)
        new: list[bool] = []
        for (result, message), row in zip(rejections, rows, strict=True):
            copy = row[6] not in recorded and self._stored_copy(result, message)
            new.append(row[6] not in recorded and not copy)
            recorded.add(row[6])
            _log(result, message, row, new=new[-1], copy=copy)
        # In arrival order: the ids order the rows for the bounds, which keep the newest.
        rows = first + [row for row, is_new in zip(rows, new, strict=True) if is_new]
        if rows:
            self._database.execute_many(REJECTION_INSERT, rows)
            self.touched.update(row[0] for row in rows)
        return new

    def record(self, result: IngestResult, message: ReceivedMessage) -> bool:
        """One rejection row, False (nothing written) when that message is recorded already. If the
        database refuses it, again with every text escaped to ASCII, then also without the device id
        (an index may refuse that; the topic still names the device); dropped, with an error logged,
        only if even that is refused."""
        row = _row(result, message)
        marker = row[6]
        self._database.lock_rejections([marker])
        already = bool(self._recorded([marker]))
        copy = not already and self._stored_copy(result, message)
        if already or copy:
            _log(result, message, row, new=False, copy=copy)
            return False
        _log(result, message, row, new=True)
        self._write_row(row)
        return True

    def record_deferred(self) -> None:
        """Write the rows deferred (after ``lock``), each as ``record`` writes one."""
        deferred, self._deferred = self._deferred, []
        recorded = self._recorded(row[6] for row in deferred)
        for row in _first_of_each(deferred):
            if row[6] not in recorded:
                self._write_row(row)

    def _write_row(self, row: Row) -> None:
        """One new row; if the database refuses it, again with every text escaped to ASCII, then
        also without the device id; dropped, with an error logged, only if even that is refused."""
        device_id, seq, topic, payload, reason, received_at, marker = row
        escaped_fields = (seq, escaped(topic), payload, escaped(reason), received_at, marker)
        refusal = None
        for attempt in (row, (device_id, *escaped_fields), (None, *escaped_fields)):
            if refusal is not None and attempt == row:
                continue  # nothing to escape: the same row would be refused again
            refused = self._refusal(REJECTION_INSERT, attempt)
            if refused is None:
                self.touched.add(attempt[0])
                return
            if refusal is None:
                logger.warning(
                    "audit: the database refuses the rejection of a message from %s (%s); keeping it escaped",
                    printable(topic),
                    printable(str(refused)),
                )
            refusal = refused
        logger.error(
            "audit: dropped a message of %d bytes from %s: the database refuses even its escaped "
            "rejection (%s: %s)",
            len(payload),
            printable(topic),
            type(refusal).__name__,
            printable(str(refusal)),
        )

    def lock(self, rejections: Iterable[tuple[IngestResult, ReceivedMessage]]) -> None:
        """Lock the rejections a transaction is about to record one by one, and those deferred, all
        at once: in arrival order, two writers could take them in opposite orders."""
        markers = [_row(result, message)[6] for result, message in rejections]
        self._database.lock_rejections([*markers, *(row[6] for row in self._deferred)])

    def _stored_copy(self, result: IngestResult, message: ReceivedMessage) -> bool:
        """The message is byte for byte an alert or a verified image already stored, refused now
        only for the keys in force: its device taken out of the keys file, or re-keyed without its
        older key listed, since the first copy was stored (a redelivery or a replay after a
        reload). A copy, not a rejection, as it was before the reload: its device did nothing
        wrong. (An image only held is not: its device no longer keyed, no alert will claim it.)"""
        if result.reason not in _KEY_REASONS or result.status or result.device_id is None:
            return False
        if result.evidence:
            if result.seq is None:
                return False
            digest = hashlib.sha256(message.payload).hexdigest()
            sql = (
                "SELECT 1 FROM audit_evidence WHERE device_id = ? AND seq = ? AND sha256 = ? AND verified = 1"
            )
            found = self._read_refusable(sql, (result.device_id, result.seq, digest))
            return bool(found)
        try:
            seq = decode_alert(message.payload).seq
        except InvalidAlertError:
            return False
        rows = self._read_refusable(
            "SELECT payload FROM audit_alerts WHERE device_id = ? AND seq = ?", (result.device_id, seq)
        )
        return bool(rows) and bytes(rows[0][0]) == message.payload

    def _read_refusable(self, sql: str, parameters: Sequence[object]) -> list[tuple[Any, ...]]:
        """The rows, none when the database refuses a value of ``parameters``: in a savepoint, as a
        device id the database cannot even compare (a NUL on PostgreSQL) would otherwise abort the
        whole transaction."""
        try:
            with self._database.savepoint():
                return self._database.execute(sql, parameters)
        except self._failures as exc:
            if not self._database.is_data_error(exc):
                raise
            return []

    def _recorded(self, fingerprints: Iterable[str]) -> set[str]:
        """Those of ``fingerprints`` already in the table, or dropped from it by the bounds."""
        wanted = sorted(set(fingerprints))
        found: set[str] = set()
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._database.execute(
                f"SELECT fingerprint FROM audit_rejected WHERE fingerprint IN ({marks}) UNION ALL "
                f"SELECT fingerprint FROM {FORGOTTEN_TABLE} WHERE fingerprint IN ({marks})",
                chunk + chunk,
            )
            found.update(str(row[0]) for row in rows)
        return found

    def _refusal(self, sql: str, parameters: Sequence[object]) -> Exception | None:
        """Run one statement in a savepoint: None once done, or the error (the statement undone)
        when the database refuses a value of it."""
        try:
            with self._database.savepoint():
                self._database.execute(sql, parameters)
        except self._failures as exc:
            if not self._database.is_data_error(exc):
                raise
            return exc
        return None


def _first_of_each(rows: Sequence[Row]) -> list[Row]:
    """The rows in order, each fingerprint's first only."""
    seen: set[str] = set()
    first = []
    for row in rows:
        if row[6] not in seen:
            seen.add(row[6])
            first.append(row)
    return first


def _row(result: IngestResult, message: ReceivedMessage) -> Row:
    code = result.reason.value if result.reason is not None else "unknown"
    text = _storable(f"{code}: {result.detail}")
    marker = fingerprint(message.topic, message.payload, code)
    return (result.device_id, result.seq, message.topic, message.payload, text, message.received_at, marker)


def _log(result: IngestResult, message: ReceivedMessage, row: Row, *, new: bool, copy: bool = False) -> None:
    if copy:
        logger.info(
            "audit: a copy of a stored %s from %s, refused now for the keys in force (%s): a duplicate",
            "image" if result.evidence else "alert",
            printable(message.topic),
            printable(row[4]),
        )
    elif new:
        logger.warning(
            "audit: rejected %s from %s: %s",
            result.seq or "message",
            printable(message.topic),
            printable(row[4]),
        )
    else:
        logger.info(
            "audit: %s from %s was rejected before (delivered again); recorded once",
            result.seq or "message",
            printable(message.topic),
        )
