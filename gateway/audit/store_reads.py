"""What the audit store answers: chain progress and gaps for the subscriber, stored alerts and
images for ``audit verify`` and the audit HTTP API, the fleet view, and the rejected messages."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

from gateway.audit.database import Database
from gateway.audit.evidence import EvidenceLedger
from gateway.audit.fleet import (
    DeviceState,
    StoredEntry,
    alerts_after,
    first_gaps,
    read_alerts,
    read_devices,
    with_gaps,
)
from gateway.audit.records import (
    DamagedRow,
    DeviceProgress,
    RejectedMessage,
    StoredAlert,
    stored_bytes,
)
from gateway.audit.schema import DROPPED_TABLE, DROPPED_VERSION, NO_DEVICE
from gateway.errors import AuditError
from gateway.printable import printable
from gateway.protocol.replay import replay_pieces
from gateway.sqlite_types import stored_type

T = TypeVar("T")

PAGE_ROWS = 2000
SHOWN_VALUE = 40
"""The most characters of a damaged value a report shows: it may be anything an edit wrote."""


def _stored_alert(
    device_id: str, seq: object, digest: object, prev_hash: object, payload: object
) -> StoredAlert | DamagedRow:
    # SQLite keeps any value in any column: a seq or a payload of another type is a row damaged
    # behind the store's back, to be reported, never one to fail the whole verification on.
    if not isinstance(seq, int):
        shown = printable(str(seq))
        shown = repr(shown) if len(shown) <= SHOWN_VALUE else f"{shown[:SHOWN_VALUE]!r}..."
        return DamagedRow(device_id, None, f"a seq stored as {stored_type(seq)} ({shown}), not an integer")
    if not isinstance(payload, bytes):
        return DamagedRow(device_id, seq, f"payload stored as {stored_type(payload)}, not a BLOB")
    return StoredAlert(device_id, seq, str(digest), str(prev_hash), payload)


class AuditReads:
    """The reading half of ``AuditStore``, which sets these attributes up."""

    _database: Database
    _evidence: EvidenceLedger

    def progress(self, device_ids: Collection[str] | None = None) -> list[DeviceProgress]:
        """Chain state of the given devices (all devices when None), by device id."""
        sql = (
            "SELECT device_id, contiguous_seq, max_seq, (SELECT COUNT(*) FROM audit_alerts a WHERE "
            "a.device_id = audit_devices.device_id AND a.evidence_missing = 1) FROM audit_devices"
        )
        rows = self._read(f"{sql} ORDER BY device_id") if device_ids is None else []
        for device_id in sorted(device_ids or ()):
            rows += self._read(f"{sql} WHERE device_id = ?", (device_id,))
        return [DeviceProgress(str(row[0]), int(row[1]), int(row[2]), int(row[3])) for row in rows]

    def missing_ranges(self, device_id: str, limit: int = 100) -> list[tuple[int, int]]:
        """The device's gaps and the seqs of its alerts whose image is missing, as inclusive
        (from_seq, to_seq) ranges, lowest first, at most ``limit``: what to ask it to replay."""
        ranges = self._gaps(device_id, limit)
        missing = self._reading(lambda: self._evidence.missing_seqs(device_id, limit))
        merged: list[tuple[int, int]] = []
        for first, last in sorted(ranges + [(seq, seq) for seq in missing]):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        # A device refuses a request for more than MAX_REPLAY_RANGE seqs, and serves replays first.
        return replay_pieces(merged, limit)

    def _gaps(self, device_id: str, limit: int) -> list[tuple[int, int]]:
        rows = self._read("SELECT contiguous_seq FROM audit_devices WHERE device_id = ?", (device_id,))
        if not rows:
            return []
        return list(self._reading(lambda: first_gaps(self._database, device_id, int(rows[0][0]), limit)))

    def alerts(self, device_id: str) -> Iterator[StoredAlert]:
        """The device's stored alerts in seq order, read page by page, those ``rows`` finds damaged
        left out."""
        return (row for row in self.rows(device_id) if isinstance(row, StoredAlert))

    def rows(self, device_id: str) -> Iterator[StoredAlert | DamagedRow]:
        """The device's stored alerts in seq order, read page by page; a row whose seq or payload is
        not of the type the store writes as a DamagedRow (one whose seq is no integer comes last)."""
        after = 0
        while True:
            rows = self._read(
                "SELECT seq, hash, prev_hash, payload FROM audit_alerts WHERE device_id = ? AND seq > ? "
                f"ORDER BY seq LIMIT {PAGE_ROWS}",
                (device_id, after),
            )
            for seq, digest, prev_hash, payload in rows:
                yield _stored_alert(device_id, seq, digest, prev_hash, payload)
            if len(rows) < PAGE_ROWS:
                return
            # As stored: SQLite sorts a seq stored as text after every integer, and compares the
            # next page's seqs with it alike.
            after = rows[-1][0]

    def alert(self, device_id: str, seq: int) -> StoredAlert | None:
        rows = self._read(
            "SELECT hash, prev_hash, payload FROM audit_alerts WHERE device_id = ? AND seq = ?",
            (device_id, seq),
        )
        if not rows:
            return None
        payload = stored_bytes(rows[0][2], f"the alert of {printable(device_id)} seq {seq}")
        return StoredAlert(device_id, seq, str(rows[0][0]), str(rows[0][1]), payload)

    def evidence_image(self, device_id: str, seq: int) -> bytes | None:
        """The verified image of the device's alert ``seq``; None when none is stored."""
        return self._reading(lambda: self._evidence.image(device_id, seq))

    def evidence_digests(self, device_id: str, seqs: Sequence[int]) -> dict[int, list[tuple[str, int] | str]]:
        """seq -> (sha256, size) of the verified images stored for those seqs, from their bytes; what
        is wrong with one stored as another type than a BLOB."""
        return self._reading(lambda: self._evidence.digests(device_id, seqs))

    def device_ids(self) -> list[str]:
        dropped = (
            f" UNION SELECT device_id FROM {DROPPED_TABLE} WHERE device_id <> ?"
            if self._counts_dropped
            else ""
        )
        rows = self._read(
            "SELECT device_id FROM audit_devices UNION "
            f"SELECT device_id FROM audit_rejected WHERE device_id IS NOT NULL{dropped} ORDER BY 1",
            (NO_DEVICE,) if dropped else (),
        )
        return [str(row[0]) for row in rows]

    def rejected_counts(self) -> dict[str | None, int]:
        """Rejected messages by device (None: no device could be read from the topic), those the
        bounds dropped included."""
        rows = self._read("SELECT device_id, COUNT(*) FROM audit_rejected GROUP BY device_id")
        counts = {None if row[0] is None else str(row[0]): int(row[1]) for row in rows}
        for device_id, dropped in self.rejected_dropped().items():
            counts[device_id] = counts.get(device_id, 0) + dropped
        return counts

    def rejected_dropped(self) -> dict[str | None, int]:
        """Rejected messages the bounds dropped, by device (None: topics that named none)."""
        if not self._counts_dropped:
            return {}
        rows = self._read(f"SELECT device_id, dropped FROM {DROPPED_TABLE}")
        return {None if row[0] == NO_DEVICE else str(row[0]): int(row[1]) for row in rows}

    @property
    def _counts_dropped(self) -> bool:
        """The store has the dropped counts (a store ``audit verify`` reads as it is may not)."""
        return self._database.version >= DROPPED_VERSION

    def rejected(self) -> list[RejectedMessage]:
        rows = self._read(
            "SELECT device_id, seq, topic, payload, reason, received_at FROM audit_rejected ORDER BY id"
        )
        return [
            RejectedMessage(
                None if row[0] is None else str(row[0]),
                None if row[1] is None else int(row[1]),
                str(row[2]),
                bytes(row[3]),
                str(row[4]),
                float(row[5]),
            )
            for row in rows
        ]

    def devices(self, device_id: str | None = None, *, gaps: bool = True) -> list[DeviceState]:
        """The fleet view of every device the store knows, or of one (``gateway.audit.fleet``);
        without their missing ranges when ``gaps`` is False (``with_gaps`` adds them)."""
        return self._reading(lambda: read_devices(self._database, device_id, gaps=gaps))

    def with_gaps(self, states: Sequence[DeviceState]) -> list[DeviceState]:
        """``states`` read with ``gaps=False``, with their missing ranges."""
        return self._reading(lambda: with_gaps(self._database, states))

    def entries(
        self,
        device_id: str,
        from_seq: int,
        limit: int,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> list[StoredEntry]:
        """Up to ``limit`` of the device's stored alerts from ``from_seq`` on, in seq order; with
        ``since`` / ``until``, those whose alert time is within them."""
        return self._reading(
            lambda: read_alerts(self._database, device_id, from_seq, limit, since=since, until=until)
        )

    def entries_after(self, device_id: str, seq: int, *, since: float | None, until: float | None) -> bool:
        """Whether the device has a stored alert after ``seq`` whose alert time is within the bounds."""
        return self._reading(lambda: alerts_after(self._database, device_id, seq, since=since, until=until))

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._reading(lambda: self._database.execute(sql, parameters))

    def _reading(self, read: Callable[[], T]) -> T:
        # Both connections are in autocommit mode outside ingest(): each read is its own statement.
        try:
            return read()
        except self._database.errors:
            # A read changes nothing, so it is tried once more, on a new connection where the old
            # one broke (PostgreSQL restarted, the connection dropped): the failure a client sees
            # is one that lasts, not the first request after every reconnect.
            pass
        try:
            return read()
        except self._database.errors as exc:
            raise AuditError(f"audit store read failed: {exc}") from exc
