"""The audit log: every alert of every device stored exactly once, verified before it is kept, and
the evidence image each start and instant names (``gateway.audit.evidence``).

An alert is kept only if it is a well-formed alert v1 or v2 in canonical JSON (schema; a device
that upgrades keeps its chain, so one device's store holds v1 alerts then v2 ones), its topic names
its device, the device's key is known, its ``hash`` matches its content, its ``sig`` verifies with
that key, and it
links into the chain: ``prev_hash`` equals the stored hash of ``seq - 1`` (``ZERO_HASH`` for seq 1)
when that alert is stored, and the stored ``seq + 1``, if it arrived first, links to this one.
Anything else goes to the rejected table with its topic, raw payload and reason, and the alerts
table is left unchanged, so a tampered, reordered, wrongly signed or rewritten alert is evidence,
not noise. A copy whose hash equals the stored one is a duplicate (QoS 1 redelivery, a replay) and
changes nothing; so is the copy of a rejected message, which is recorded once, and the exact copy
of a stored alert that only the keys reloaded since refuse (``gateway.audit.rejections``).

Per device the store keeps ``contiguous_seq`` (every seq up to it is stored) and ``max_seq``; the
seqs between them that are missing are the device's gaps, which the subscriber asks to be replayed,
as it does the seqs of alerts whose image is missing. A batch of messages is one transaction: the
subscriber acknowledges them to the broker only after ``ingest`` returns, so an acknowledged alert
is on disk. The checks that need no stored state are ``gateway.audit.store_checks``, the chain
checks and writes of one device ``gateway.audit.chain``; reads are ``gateway.audit.store_reads``.

A failed write is an outage or a refused value (``gateway.audit.database``). An outage fails the
batch, and the subscriber retries it until the database is back. A refused value is one message's
own data, which no retry changes (a device id too long for an index, text the database's encoding
lacks): the batch is written again, still one transaction but each message in a savepoint, and the
refused message is rejected (``unstorable``) while the rest is stored, its rejection row written
by ``gateway.audit.rejections``.

What nobody signed is bounded (``gateway.audit.bounds``): images held before their alert, and
rejected messages, trimmed oldest first at the end of each transaction; ``take_drops`` hands the
subscriber what committed transactions dropped, for its counters.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import TypeGuard

from gateway.audit.bounds import Bounds, Drops, StoreBounds
from gateway.audit.chain import ChainWriter
from gateway.audit.database import BINDING_ERRORS, Database, open_database
from gateway.audit.evidence import EvidenceLedger, evidence_target
from gateway.audit.fleet_status import StatusArrivals, record_statuses, status_target
from gateway.audit.keys_file import SigningKeys
from gateway.audit.records import (
    DamagedRow,
    DeviceProgress,
    IngestResult,
    Outcome,
    ReceivedMessage,
    RejectedMessage,
    RejectReason,
    StoredAlert,
)
from gateway.audit.rejections import RejectionRecorder
from gateway.audit.store_checks import Checked, MessageChecks, device_from_topic
from gateway.audit.store_reads import PAGE_ROWS, AuditReads
from gateway.domain import Alert
from gateway.errors import AuditError
from gateway.printable import printable

__all__ = [
    "AuditStore",
    "DamagedRow",
    "DeviceProgress",
    "Drops",
    "IngestResult",
    "Outcome",
    "ReceivedMessage",
    "RejectReason",
    "RejectedMessage",
    "StoreBounds",
    "StoredAlert",
    "device_from_topic",
]

logger = logging.getLogger(__name__)


class AuditStore(AuditReads):
    """Verified, exactly-once storage of alerts. One thread at a time (it owns one DB connection)."""

    def __init__(
        self,
        database: Database,
        keys: SigningKeys,
        topic_prefix: str = "edge",
        bounds: StoreBounds | None = None,
    ) -> None:
        self._database = database
        self._checks = MessageChecks(keys, topic_prefix)
        self._prefix = topic_prefix
        self._rejections = RejectionRecorder(database)
        self._evidence = EvidenceLedger(database, topic_prefix, self._rejections)
        self._chain = ChainWriter(database, self._evidence, self._contiguous_from)
        self._bounds = Bounds(database, bounds or StoreBounds())
        self._arrivals = StatusArrivals()
        """The order this instance's status connection received each device's statuses in."""
        self._pending = Drops()
        """What the open transaction dropped."""
        self._dropped = Drops()
        """What committed transactions dropped since ``take_drops``."""
        self._failures = (*database.errors, *BINDING_ERRORS)
        """What a statement raises when it fails; ``database.is_data_error`` tells which are a
        message's data and which an outage."""

    @classmethod
    def open(
        cls,
        url: str,
        keys: SigningKeys,
        topic_prefix: str = "edge",
        *,
        create: bool = True,
        bounds: StoreBounds | None = None,
    ) -> AuditStore:
        """``create=False``: the store as it is, read-only (``audit verify``)."""
        return cls(open_database(url, create=create), keys, topic_prefix, bounds)

    def take_drops(self) -> Drops:
        """What the bounds dropped in the transactions committed since the last call."""
        dropped, self._dropped = self._dropped, Drops()
        return dropped

    def close(self) -> None:
        self._database.close()

    @property
    def schema_problem(self) -> str | None:
        """Opened read-only: what is wrong with the schema version the store holds; None otherwise."""
        return self._database.schema_problem

    @property
    def keyed_devices(self) -> frozenset[str]:
        """The devices this instance has a signing key for."""
        return frozenset(self._checks.keys)

    @property
    def key_counts(self) -> dict[str, int]:
        """How many keys each keyed device has (never the keys)."""
        return {device: len(ring) for device, ring in self._checks.keys.items()}

    def replace_keys(self, keys: SigningKeys) -> None:
        """Check what is ingested from now on with ``keys`` (a keys file reloaded). One reference is
        swapped, so a reader on another thread sees the old keys or the new ones, never a mix."""
        self._checks = MessageChecks(keys, self._prefix)

    def drop_unkeyed_held(self) -> bool:
        """Drop the images held for devices with no key here, in a transaction of its own; what it
        drops is handed out by ``take_drops``. False when a device another writer holds was left
        for the next call. Raises AuditError when the database fails."""
        keyed = self.keyed_devices
        try:
            with self._database.transaction():
                self._begin()
                done = self._bounds.drop_unkeyed_held(keyed, self._pending)
        except self._failures as exc:
            raise AuditError(f"audit store write failed: {exc}") from exc
        self._dropped.add(self._pending)
        return done

    def ingest(self, messages: Sequence[ReceivedMessage]) -> list[IngestResult]:
        """Verify and store a batch in one transaction; results in the order of ``messages``.

        Raises AuditError (nothing stored) when the database fails; the caller retries the batch.
        A value the database refuses is not a failure: its message is rejected (``unstorable``).
        """
        checked = self._checks.check(messages)
        try:
            with self._database.transaction():
                self._begin()
                results = self._write(checked)
                rejected = [(index, result) for index, result in enumerate(results) if _recordable(result)]
                new = self._rejections.record_all([(result, messages[index]) for index, result in rejected])
                for (index, result), first in zip(rejected, new, strict=True):
                    if not first:
                        results[index] = _repeated(result)
                self._bound(results)
            self._dropped.add(self._pending)
            _log_rejected_statuses(results, messages)
            return [result for result in results if result is not None]
        except self._failures as exc:
            if not self._database.is_data_error(exc):
                raise AuditError(f"audit store write failed: {exc}") from exc
            logger.warning(
                "audit: the database refuses a value in a batch of %d messages (%s: %s); "
                "storing each on its own",
                len(messages),
                type(exc).__name__,
                printable(str(exc)),
            )
        # Still one transaction, so the batch is acknowledged as a whole; each message in a
        # savepoint, so the one the database refuses is undone alone and the others are kept. In
        # the order ``_write`` takes them, or which of two alerts that do not link a device keeps
        # would hang on another device's refused value: by device (locked in sorted order), its
        # alerts by seq, then its images and statuses as they came.
        seqs = {index: alert.seq for index, alert, _ in checked.verified}
        order = sorted(
            range(len(messages)),
            key=lambda index: (
                self._checks.topic_device(messages[index]) or "",
                index not in seqs,
                seqs.get(index, 0),
                index,
            ),
        )
        alone: dict[int, IngestResult] = {}
        try:
            with self._database.transaction():
                self._begin()
                for index in order:
                    alone[index] = self._ingest_alone(messages[index])
                self._rejections.lock(
                    (result, messages[index]) for index, result in alone.items() if _recordable(result)
                )
                self._rejections.record_deferred()
                for index, message in enumerate(messages):
                    if _recordable(alone[index]) and not self._rejections.record(alone[index], message):
                        alone[index] = _repeated(alone[index])
                self._bound(list(alone.values()))
        except self._failures as exc:
            raise AuditError(f"audit store write failed: {exc}") from exc
        self._dropped.add(self._pending)
        one_by_one = [alone[index] for index in range(len(messages))]
        _log_rejected_statuses(one_by_one, messages)
        return one_by_one

    def _begin(self) -> None:
        self._pending = Drops()
        self._rejections.begin()

    def _bound(self, results: Sequence[IngestResult | None]) -> None:
        """Keep what nobody signed within bounds (the devices whose images were held this
        transaction are locked by it), then count the rejected messages that dropped."""
        held = {
            result.device_id
            for result in results
            if result is not None
            and result.evidence
            and result.outcome is Outcome.STORED
            and result.device_id
        }
        self._bounds.trim_held(held, self._pending)
        self._bounds.trim_rejected(self._rejections.touched, self._pending)
        self._bounds.count_dropped(self._pending)

    def _write(self, checked: Checked) -> list[IngestResult | None]:
        """Store what passed the checks (inside the caller's transaction); the results by index."""
        results = list(checked.results)
        # Devices are locked in sorted order (no deadlock between two subscribers) and each device's
        # alerts are chained in seq order, however the batch arrived; then its images are checked
        # against the alerts stored (these included).
        by_device: dict[str, list[tuple[int, Alert, ReceivedMessage]]] = {}
        for item in sorted(checked.verified, key=lambda item: (item[1].device_id, item[1].seq)):
            by_device.setdefault(item[1].device_id, []).append(item)
        now = time.time()
        for device_id in sorted(by_device.keys() | checked.images.keys() | checked.statuses.keys()):
            contiguous, highest = self._database.lock_device(device_id)
            stored = self._chain.store(device_id, by_device.get(device_id, []), contiguous, highest, now)
            stored += self._evidence.store(device_id, checked.images.get(device_id, []))
            stored += record_statuses(
                self._database, device_id, checked.statuses.get(device_id, []), self._arrivals, now
            )
            for index, result in stored:
                results[index] = result
        return results

    def _ingest_alone(self, message: ReceivedMessage) -> IngestResult:
        """One message in a savepoint of the open transaction: stored, or rejected if the database
        refuses a value it brings (its rejection row is the caller's to write)."""
        checked = self._checks.check([message])
        try:
            with self._rejections.savepoint():
                (result,) = [result for result in self._write(checked) if result is not None]
        except self._failures as exc:
            if not self._database.is_data_error(exc):
                raise
            result = self._unstorable(message, exc)
        return result

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

    def _unstorable(self, message: ReceivedMessage, error: Exception) -> IngestResult:
        status_device = status_target(message.topic, self._prefix)
        image = evidence_target(message.topic, self._prefix)
        return IngestResult(
            Outcome.REJECTED,
            self._checks.topic_device(message),
            image[1] if image else None,
            RejectReason.UNSTORABLE,
            # The first line: PostgreSQL's DETAIL and HINT lines speak of its index rows and tuples.
            f"the database refuses a value of it: {type(error).__name__}: {_first_line(error)}",
            evidence=image is not None,
            status=status_device is not None,
        )


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def _recordable(result: IngestResult | None) -> TypeGuard[IngestResult]:
    """A rejection the rejected table keeps (a status message is logged, not kept)."""
    return result is not None and result.outcome is Outcome.REJECTED and not result.status


def _repeated(result: IngestResult) -> IngestResult:
    """A rejected message delivered again (or sent again): recorded once, so answered as a copy."""
    return dataclasses.replace(result, outcome=Outcome.DUPLICATE)


def _log_rejected_statuses(
    results: Sequence[IngestResult | None], messages: Sequence[ReceivedMessage]
) -> None:
    """A status message rejected is logged, not kept (it is not part of the audit log), so that a
    device whose status the fleet page never shows is not unnoticed."""
    for result, message in zip(results, messages, strict=True):
        if result is not None and result.status and result.outcome is Outcome.REJECTED:
            logger.warning(
                "audit: rejected a status message from %s: %s",
                printable(message.topic),
                printable(result.detail),
            )
