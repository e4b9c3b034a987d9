"""The audit log: every alert of every device stored exactly once, verified before it is kept.

An alert is kept only if it is a well-formed alert v1 (schema), its topic names its device, the
device's key is known, its ``hash`` matches its content, its ``sig`` verifies with that key, and it
links into the chain: ``prev_hash`` equals the stored hash of ``seq - 1`` (``ZERO_HASH`` for seq 1)
when that alert is stored, and the stored ``seq + 1``, if it arrived first, links to this one.
Anything else goes to the rejected table with its topic, raw payload and reason, and the alerts
table is left unchanged, so a tampered, reordered, wrongly signed or rewritten alert is evidence,
not noise. A copy whose hash equals the stored one is a duplicate (QoS 1 redelivery, a replay) and
changes nothing.

Per device the store keeps ``contiguous_seq`` (every seq up to it is stored) and ``max_seq``; the
seqs between them that are missing are the device's gaps, which the subscriber asks to be replayed.
A batch of messages is one transaction: the subscriber acknowledges them to the broker only after
``ingest`` returns, so an acknowledged alert is on disk.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.audit.database import Database, open_database
from gateway.domain import Alert
from gateway.errors import AuditError
from gateway.protocol.alerts import (
    ZERO_HASH,
    AlertVerificationError,
    InvalidAlertError,
    decode_alert,
    verify_payload,
)

logger = logging.getLogger(__name__)

PAGE_ROWS = 2000
LOOKUP_CHUNK = 500
"""Seqs per ``IN (...)`` lookup: well under SQLite's limit on bound parameters."""


class Outcome(str, enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class RejectReason(str, enum.Enum):
    SCHEMA = "schema"
    TOPIC = "topic"
    UNKNOWN_DEVICE = "unknown_device"
    HASH = "hash"
    SIGNATURE = "signature"
    CHAIN = "chain"
    CONFLICT = "conflict"
    """Another alert with the same device and seq but different content is already stored."""


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    topic: str
    payload: bytes
    received_at: float
    """Wall-clock time it arrived, seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    device_id: str | None
    seq: int | None
    reason: RejectReason | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeviceProgress:
    device_id: str
    contiguous_seq: int
    """Every seq from 1 to this one is stored."""
    max_seq: int

    @property
    def has_gap(self) -> bool:
        return self.max_seq > self.contiguous_seq


@dataclass(frozen=True, slots=True)
class StoredAlert:
    device_id: str
    seq: int
    hash: str
    prev_hash: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    device_id: str | None
    seq: int | None
    topic: str
    payload: bytes
    reason: str
    received_at: float


class _RejectedError(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


def device_from_topic(topic: str, prefix: str) -> str | None:
    """``{prefix}/{device_id}/alerts`` -> device_id, or None for any other topic."""
    head = f"{prefix}/"
    if not topic.startswith(head) or not topic.endswith("/alerts"):
        return None
    device_id = topic[len(head) : -len("/alerts")]
    return device_id if device_id and "/" not in device_id else None


class AuditStore:
    """Verified, exactly-once storage of alerts. One thread at a time (it owns one DB connection)."""

    def __init__(self, database: Database, keys: Mapping[str, bytes], topic_prefix: str = "edge") -> None:
        self._database = database
        self._keys = dict(keys)
        self._prefix = topic_prefix

    @classmethod
    def open(
        cls, url: str, keys: Mapping[str, bytes], topic_prefix: str = "edge", *, create: bool = True
    ) -> AuditStore:
        return cls(open_database(url, create=create), keys, topic_prefix)

    def close(self) -> None:
        self._database.close()

    def ingest(self, messages: Sequence[ReceivedMessage]) -> list[IngestResult]:
        """Verify and store a batch in one transaction; results in the order of ``messages``.

        Raises AuditError (nothing stored) when the database fails; the caller retries the batch.
        """
        results: list[IngestResult | None] = [None] * len(messages)
        verified: list[tuple[int, Alert, ReceivedMessage]] = []
        rejected: list[tuple[int, IngestResult]] = []
        for index, message in enumerate(messages):
            try:
                verified.append((index, self._verify(message), message))
            except _RejectedError as problem:
                device_id = device_from_topic(message.topic, self._prefix)
                rejected.append(
                    (index, IngestResult(Outcome.REJECTED, device_id, None, problem.reason, problem.detail))
                )
        # Devices are locked in sorted order (no deadlock between two subscribers) and each device's
        # alerts are chained in seq order, however the batch arrived.
        by_device: dict[str, list[tuple[int, Alert, ReceivedMessage]]] = {}
        for item in sorted(verified, key=lambda item: (item[1].device_id, item[1].seq)):
            by_device.setdefault(item[1].device_id, []).append(item)
        try:
            with self._database.transaction():
                for device_id, items in by_device.items():
                    for index, result in self._store_device(device_id, items):
                        results[index] = result
                for index, rejection in rejected:
                    results[index] = rejection
                self._record_rejections(
                    [(result, message) for result, message in zip(results, messages, strict=True)
                     if result is not None and result.outcome is Outcome.REJECTED]
                )  # fmt: skip
        except self._database.errors as exc:
            raise AuditError(f"audit store write failed: {exc}") from exc
        return [result for result in results if result is not None]

    def _record_rejections(self, rejections: list[tuple[IngestResult, ReceivedMessage]]) -> None:
        rows = []
        for result, message in rejections:
            reason = result.reason.value if result.reason is not None else "unknown"
            rows.append(
                (result.device_id, result.seq, message.topic, message.payload, f"{reason}: {result.detail}",
                 message.received_at)
            )  # fmt: skip
            logger.warning(
                "audit: rejected %s from %s: %s: %s",
                result.seq or "message",
                message.topic,
                reason,
                result.detail,
            )
        if rows:
            self._database.execute_many(
                "INSERT INTO audit_rejected (device_id, seq, topic, payload, reason, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def _verify(self, message: ReceivedMessage) -> Alert:
        """Schema, topic, key, hash and signature: everything that needs no stored state."""
        topic_device = device_from_topic(message.topic, self._prefix)
        key = None if topic_device is None else self._keys.get(topic_device)
        try:
            if key is None:
                alert = decode_alert(message.payload)
                self._check_topic(alert, message.topic, topic_device)
                raise _RejectedError(
                    RejectReason.UNKNOWN_DEVICE, f"no key for device {alert.device_id!r} in the keys file"
                )
            alert = verify_payload(message.payload, key)
        except InvalidAlertError as exc:
            raise _RejectedError(RejectReason.SCHEMA, str(exc)) from exc
        except AlertVerificationError as exc:
            # Checked with the key of the topic's device: a payload of another device fails here.
            self._check_topic(decode_alert(message.payload), message.topic, topic_device)
            raise _RejectedError(RejectReason(exc.reason), str(exc)) from exc
        self._check_topic(alert, message.topic, topic_device)
        return alert

    @staticmethod
    def _check_topic(alert: Alert, topic: str, topic_device: str | None) -> None:
        if topic_device != alert.device_id:
            raise _RejectedError(
                RejectReason.TOPIC, f"topic {topic!r} does not name device {alert.device_id!r}"
            )

    def _store_device(
        self, device_id: str, items: list[tuple[int, Alert, ReceivedMessage]]
    ) -> list[tuple[int, IngestResult]]:
        """Dedup and chain checks for one device's alerts (in seq order), then one write per table."""
        contiguous, highest = self._database.lock_device(device_id)
        batch_seqs = {alert.seq for _, alert, _ in items}
        known = self._stored_links(
            device_id, batch_seqs | {seq - 1 for seq in batch_seqs} | {seq + 1 for seq in batch_seqs}
        )
        results: list[tuple[int, IngestResult]] = []
        rows: list[tuple[object, ...]] = []
        for index, alert, message in items:
            result = self._link(alert, known)
            results.append((index, result))
            if result.outcome is Outcome.STORED:
                known[alert.seq] = (alert.hash, alert.prev_hash)
                highest = max(highest, alert.seq)
                rows.append(
                    (device_id, alert.seq, alert.hash, alert.prev_hash, message.payload, message.received_at)
                )
        if not rows:
            return results
        self._database.execute_many(
            "INSERT INTO audit_alerts (device_id, seq, hash, prev_hash, payload, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        start = contiguous
        while contiguous + 1 in known:
            contiguous += 1
        if contiguous > start and highest > contiguous:
            contiguous = self._contiguous_from(device_id, contiguous)
        self._database.execute(
            "UPDATE audit_devices SET contiguous_seq = ?, max_seq = ? WHERE device_id = ?",
            (contiguous, highest, device_id),
        )
        return results

    def _stored_links(self, device_id: str, seqs: set[int]) -> dict[int, tuple[str, str]]:
        """seq -> (hash, prev_hash) of the given seqs that are stored."""
        wanted = sorted(seq for seq in seqs if seq >= 1)
        known: dict[int, tuple[str, str]] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            rows = self._database.execute(
                "SELECT seq, hash, prev_hash FROM audit_alerts WHERE device_id = ? "
                f"AND seq IN ({', '.join('?' * len(chunk))})",
                (device_id, *chunk),
            )
            known.update({int(row[0]): (str(row[1]), str(row[2])) for row in rows})
        return known

    def _contiguous_from(self, device_id: str, contiguous: int) -> int:
        """Extend the contiguous run over alerts that arrived early, after a gap that just closed."""
        while True:
            rows = self._database.execute(
                "SELECT seq FROM audit_alerts WHERE device_id = ? AND seq > ? "
                f"ORDER BY seq LIMIT {PAGE_ROWS}",
                (device_id, contiguous),
            )
            for (seq,) in rows:
                if int(seq) != contiguous + 1:
                    return contiguous
                contiguous += 1
            if len(rows) < PAGE_ROWS:
                return contiguous

    def _link(self, alert: Alert, known: Mapping[int, tuple[str, str]]) -> IngestResult:
        seq = alert.seq
        if seq in known:
            if known[seq][0] == alert.hash:
                return IngestResult(Outcome.DUPLICATE, alert.device_id, seq)
            return self._rejection(
                alert, RejectReason.CONFLICT, f"seq {seq} is already stored with other content"
            )
        previous_hash = ZERO_HASH if seq == 1 else known.get(seq - 1, (None, None))[0]
        if previous_hash is not None and alert.prev_hash != previous_hash:
            return self._rejection(
                alert, RejectReason.CHAIN, f"seq {seq}: prev_hash does not link to seq {seq - 1}"
            )
        if seq + 1 in known and known[seq + 1][1] != alert.hash:
            return self._rejection(
                alert, RejectReason.CHAIN, f"seq {seq}: the stored seq {seq + 1} does not link to this alert"
            )
        return IngestResult(Outcome.STORED, alert.device_id, seq)

    @staticmethod
    def _rejection(alert: Alert, reason: RejectReason, detail: str) -> IngestResult:
        return IngestResult(Outcome.REJECTED, alert.device_id, alert.seq, reason, detail)

    # Reading: for the subscriber's gap tracking and for `audit verify`.

    def progress(self, device_ids: Collection[str] | None = None) -> list[DeviceProgress]:
        """Chain state of the given devices (all devices when None), by device id."""
        sql = "SELECT device_id, contiguous_seq, max_seq FROM audit_devices"
        rows = self._read(f"{sql} ORDER BY device_id") if device_ids is None else []
        for device_id in sorted(device_ids or ()):
            rows += self._read(f"{sql} WHERE device_id = ?", (device_id,))
        return [DeviceProgress(str(row[0]), int(row[1]), int(row[2])) for row in rows]

    def missing_ranges(self, device_id: str, limit: int = 100) -> list[tuple[int, int]]:
        """The device's gaps as inclusive (from_seq, to_seq) ranges, lowest first, at most ``limit``."""
        rows = self._read("SELECT contiguous_seq FROM audit_devices WHERE device_id = ?", (device_id,))
        if not rows:
            return []
        contiguous = int(rows[0][0])
        stored = self._read(
            "SELECT seq FROM audit_alerts WHERE device_id = ? AND seq > ? ORDER BY seq",
            (device_id, contiguous),
        )
        ranges: list[tuple[int, int]] = []
        expected = contiguous + 1
        for (seq,) in stored:
            if int(seq) > expected:
                ranges.append((expected, int(seq) - 1))
                if len(ranges) >= limit:
                    break
            expected = int(seq) + 1
        return ranges

    def alerts(self, device_id: str) -> Iterator[StoredAlert]:
        """The device's stored alerts in seq order, read page by page."""
        after = 0
        while True:
            rows = self._read(
                "SELECT seq, hash, prev_hash, payload FROM audit_alerts WHERE device_id = ? AND seq > ? "
                f"ORDER BY seq LIMIT {PAGE_ROWS}",
                (device_id, after),
            )
            for seq, digest, prev_hash, payload in rows:
                yield StoredAlert(device_id, int(seq), str(digest), str(prev_hash), bytes(payload))
            if len(rows) < PAGE_ROWS:
                return
            after = int(rows[-1][0])

    def device_ids(self) -> list[str]:
        rows = self._read(
            "SELECT device_id FROM audit_devices UNION "
            "SELECT device_id FROM audit_rejected WHERE device_id IS NOT NULL ORDER BY 1"
        )
        return [str(row[0]) for row in rows]

    def rejected_counts(self) -> dict[str | None, int]:
        """Rejected messages by device (None: no device could be read from the topic)."""
        rows = self._read("SELECT device_id, COUNT(*) FROM audit_rejected GROUP BY device_id")
        return {None if row[0] is None else str(row[0]): int(row[1]) for row in rows}

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

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        # Both connections are in autocommit mode outside ingest(): each read is its own statement.
        try:
            return self._database.execute(sql, parameters)
        except self._database.errors as exc:
            raise AuditError(f"audit store read failed: {exc}") from exc
