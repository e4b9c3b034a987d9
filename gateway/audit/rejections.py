"""Writing the rejected table (``audit_rejected``): each message the audit store turns away, with
its topic, raw payload and reason.

A rejection row the database refuses is kept with its text escaped; only a message not even that
can hold is dropped, logged as an error. The devices whose rows were written are ``touched``, for
the store to keep their rows within bounds (``gateway.audit.bounds``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateway.audit.database import BINDING_ERRORS, Database
from gateway.audit.records import IngestResult, ReceivedMessage
from gateway.printable import printable

__all__ = ["REJECTION_INSERT", "RejectionRecorder", "escaped"]

logger = logging.getLogger(__name__)

REJECTION_INSERT = (
    "INSERT INTO audit_rejected (device_id, seq, topic, payload, reason, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


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

    def insert(self, row: tuple[str | None, int | None, str, bytes, str, float]) -> None:
        """One row as it is (the caller has made it storable)."""
        self._database.execute(REJECTION_INSERT, row)
        self.touched.add(row[0])

    def record_all(self, rejections: list[tuple[IngestResult, ReceivedMessage]]) -> None:
        """Every row in one statement: a refusal fails it, for the store to write them one by one."""
        rows = [self._rejection_row(result, message) for result, message in rejections]
        if rows:
            self._database.execute_many(REJECTION_INSERT, rows)
            self.touched.update(row[0] for row in rows)

    def record(self, result: IngestResult, message: ReceivedMessage) -> None:
        """One rejection row. If the database refuses it, again with every text escaped to ASCII,
        then also without the device id (an index may refuse that; the topic still names the
        device); dropped, with an error logged, only if even that is refused."""
        row = self._rejection_row(result, message)
        device_id, seq, topic, payload, reason, received_at = row
        escaped_fields = (seq, escaped(topic), payload, escaped(reason), received_at)
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

    @staticmethod
    def _rejection_row(
        result: IngestResult, message: ReceivedMessage
    ) -> tuple[str | None, int | None, str, bytes, str, float]:
        reason = result.reason.value if result.reason is not None else "unknown"
        text = _storable(f"{reason}: {result.detail}")
        logger.warning(
            "audit: rejected %s from %s: %s",
            result.seq or "message",
            printable(message.topic),
            printable(text),
        )
        return (result.device_id, result.seq, message.topic, message.payload, text, message.received_at)
