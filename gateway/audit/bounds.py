"""Bounds on what the audit store keeps that no device signed: images held before their alert, and
rejected messages.

Anyone who can publish under a keyed device's topics (the device, or whoever holds its broker
credentials) could send images for seqs whose alerts never come, and anything at all to be
rejected; both were kept without a bound, so a loop of such messages filled the database.

The bounds are the audit config's ``bounds`` keys (``gateway.config.service.AuditBoundsConfig``).

- Held images (``audit_evidence`` with ``verified = 0``): at most ``held_images_per_device`` and
  ``held_bytes_per_device`` per device, ``held_images`` and ``held_bytes`` in all. Past a bound the
  oldest held (by arrival) are dropped, each logged and counted
  (``edge_gateway_audit_evidence_dropped_total``). Nothing signed is lost: an alert stored after its
  image was dropped is ``evidence_missing``, and its device is asked to replay it, image included.
  Those held for a device that has no key here any more (taken out of the keys file) are dropped
  too, at start and at each keys reload (bound ``unkeyed``): its alerts are rejected, so no alert
  would ever adopt them, and they were held for ever.
- Rejected messages (``audit_rejected``): the newest of each device (those whose topic names none
  count as one more device) within ``rejected_per_device`` messages and ``rejected_bytes_per_device``
  bytes, and the newest of all within ``rejected`` and ``rejected_bytes``. What is
  dropped is counted per device in ``audit_rejected_dropped`` (and in
  ``edge_gateway_audit_rejected_dropped_total``), so the rejected counts the fleet API and
  ``audit verify`` show are still of every message rejected. Their fingerprints are kept (the
  newest ``rejected`` of them), so a copy arriving after its row dropped is a duplicate, not a
  message counted twice.

A device's held images are trimmed with the device locked (inside the store's transaction). The
totals take from devices no other writer holds (``Database.try_lock_devices``, rows selected with
``skip_locked``): never waiting, so never a deadlock between instances; a total can run over by what
other instances' open transactions add, until the next batch trims it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.audit.database import Database
from gateway.audit.schema import DROPPED_TABLE, FORGOTTEN_TABLE, NO_DEVICE
from gateway.config.service import AuditBoundsConfig
from gateway.printable import printable
from gateway.wording import counted

logger = logging.getLogger(__name__)

PAGE_ROWS = 500


@dataclass(frozen=True, slots=True)
class StoreBounds:
    """How much the store keeps of what no device signed (the defaults hold a fleet's worth of
    ordinary reordering and misconfiguration; a flood is trimmed, oldest first)."""

    held_images_per_device: int = 1000
    held_bytes_per_device: int = 256 * 2**20
    held_images: int = 20_000
    held_bytes: int = 2 * 2**30
    rejected_per_device: int = 1000
    rejected_bytes_per_device: int = 64 * 2**20
    rejected: int = 100_000
    rejected_bytes: int = 2 * 2**30

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @classmethod
    def from_config(cls, config: AuditBoundsConfig) -> StoreBounds:
        """The audit config's ``bounds`` (validated there, each key named in its errors)."""
        return cls(**config.model_dump())


@dataclass(slots=True)
class Drops:
    """What one transaction dropped; counted once it commits."""

    held: Counter[str] = field(default_factory=Counter)
    """Held images dropped, by the bound: ``device`` or ``total``."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Rejected messages dropped, by device (NO_DEVICE: topics that name none)."""

    def add(self, other: Drops) -> None:
        self.held.update(other.held)
        self.rejected.update(other.rejected)


class Bounds:
    """Applied by the store at the end of each transaction, with the touched devices still locked."""

    def __init__(self, database: Database, bounds: StoreBounds) -> None:
        self._database = database
        self.limits = bounds

    def trim_held(self, device_ids: Iterable[str], drops: Drops) -> None:
        """Each device's held images within its bounds, then all of them within the totals."""
        touched = sorted(set(device_ids))
        for device_id in touched:
            rows = self._database.execute(
                "SELECT seq, sha256, LENGTH(data), received_at FROM audit_evidence "
                "WHERE device_id = ? AND verified = 0 ORDER BY received_at DESC, seq DESC",
                (device_id,),
            )
            kept, size = 0, 0
            over: list[tuple[tuple[str, int, str], int]] = []
            for seq, digest, length, _ in rows:
                fits = size + int(length) <= self.limits.held_bytes_per_device
                if not over and kept < self.limits.held_images_per_device and fits:
                    kept, size = kept + 1, size + int(length)
                else:
                    over.append(((device_id, int(seq), str(digest)), int(length)))
            for key, length in reversed(over):  # oldest first
                self._drop_held(key, length, "device", drops)
        if touched:
            self._trim_held_total(drops)

    def drop_unkeyed_held(self, keyed: frozenset[str], drops: Drops) -> bool:
        """Drop the images held for devices not in ``keyed`` (inside the caller's transaction); a
        device another writer holds is left for the next call. False when one was left."""
        held = [
            str(row[0])
            for row in self._database.execute(
                "SELECT DISTINCT device_id FROM audit_evidence WHERE verified = 0 ORDER BY device_id"
            )
        ]
        unkeyed = [device_id for device_id in held if device_id not in keyed]
        locked = self._database.try_lock_devices(unkeyed)
        for device_id in sorted(locked):
            rows = self._database.execute(
                "DELETE FROM audit_evidence WHERE device_id = ? AND verified = 0 RETURNING LENGTH(data)",
                (device_id,),
            )
            if not rows:
                continue
            drops.held["unkeyed"] += len(rows)
            logger.warning(
                "audit: dropped %s (%d bytes) held for alerts of %s: it has no key in the keys "
                "file, so its alerts are rejected and would never claim them",
                counted(len(rows), "image"),
                sum(int(row[0]) for row in rows),
                printable(device_id),
            )
        return locked >= set(unkeyed)

    def _trim_held_total(self, drops: Drops) -> None:
        ((count, size),) = self._database.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM audit_evidence WHERE verified = 0"
        )
        count, size = int(count), int(size)
        after: tuple[float, str, int] = (float("-inf"), "", 0)
        while count > self.limits.held_images or size > self.limits.held_bytes:
            rows = self._database.execute(
                "SELECT received_at, device_id, seq, sha256, LENGTH(data) FROM audit_evidence "
                "WHERE verified = 0 AND (received_at > ? OR (received_at = ? AND (device_id > ? OR "
                "(device_id = ? AND seq > ?)))) ORDER BY received_at, device_id, seq "
                f"LIMIT {PAGE_ROWS}",
                (after[0], after[0], after[1], after[1], after[2]),
            )
            if not rows:
                return  # the rest is held by devices other writers hold: trimmed by their batches
            lockable = self._database.try_lock_devices(sorted({str(row[1]) for row in rows}))
            for received_at, device_id, seq, digest, length in rows:
                after = (float(received_at), str(device_id), int(seq))
                if str(device_id) not in lockable:
                    continue
                self._drop_held((str(device_id), int(seq), str(digest)), int(length), "total", drops)
                count, size = count - 1, size - int(length)
                if count <= self.limits.held_images and size <= self.limits.held_bytes:
                    return

    def _drop_held(self, key: tuple[str, int, str], length: int, bound: str, drops: Drops) -> None:
        """Drop the held image ``key`` (device, seq, sha256), past the ``bound`` named."""
        device_id, seq, _ = key
        self._database.execute(
            "DELETE FROM audit_evidence WHERE device_id = ? AND seq = ? AND sha256 = ? AND verified = 0", key
        )
        drops.held[bound] += 1
        limits = (
            f"{self.limits.held_images_per_device} images or {self.limits.held_bytes_per_device} bytes "
            "per device"
            if bound == "device"
            else f"{self.limits.held_images} images or {self.limits.held_bytes} bytes in all"
        )
        logger.warning(
            "audit: dropped an image of %d bytes held for alert %d of %s before that alert arrived: "
            "images held are bounded to %s (if the alert comes, its device is asked for the image again)",
            length,
            seq,
            printable(device_id),
            limits,
        )

    def trim_rejected(self, device_ids: Iterable[str | None], drops: Drops) -> None:
        """The newest rejected messages of each device given within the per-device bounds, then
        the newest of all within the totals."""
        touched = sorted(set(device_ids), key=lambda device_id: (device_id is not None, device_id or ""))
        for device_id in touched:
            match, parameters = (
                ("device_id IS NULL", ()) if device_id is None else ("device_id = ?", (device_id,))
            )
            rows = self._database.execute(
                f"SELECT id, LENGTH(payload) FROM audit_rejected WHERE {match} ORDER BY id DESC", parameters
            )
            size, over = 0, list[int]()
            for kept, (row_id, length) in enumerate(rows, start=1):
                size += int(length)
                full = kept > self.limits.rejected_per_device or size > self.limits.rejected_bytes_per_device
                if over or full:
                    over.append(int(row_id))
            self._drop_rejected(over, drops)
        if touched:
            self._trim_rejected_total(drops)

    def _trim_rejected_total(self, drops: Drops) -> None:
        ((count, size),) = self._database.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM audit_rejected"
        )
        count, size = int(count), int(size)
        after, over = 0, list[int]()
        while count > self.limits.rejected or size > self.limits.rejected_bytes:
            rows = self._database.execute(
                f"SELECT id, LENGTH(payload) FROM audit_rejected WHERE id > ? ORDER BY id LIMIT {PAGE_ROWS}",
                (after,),
            )
            if not rows:
                break
            for row_id, length in rows:
                after = int(row_id)
                over.append(after)
                count, size = count - 1, size - int(length)
                if count <= self.limits.rejected and size <= self.limits.rejected_bytes:
                    break
        self._drop_rejected(over, drops)

    def _drop_rejected(self, ids: list[int], drops: Drops) -> None:
        """Delete those rows, but any another writer is deleting (it counts those); count and log
        what this one deleted."""
        dropped: Counter[str] = Counter()
        forgotten: set[str] = set()
        for start in range(0, len(ids), PAGE_ROWS):
            chunk = ids[start : start + PAGE_ROWS]
            rows = self._database.execute(
                "DELETE FROM audit_rejected WHERE id IN (SELECT id FROM audit_rejected WHERE id IN "
                f"({', '.join('?' * len(chunk))}){self._database.skip_locked}) "
                "RETURNING device_id, fingerprint",
                chunk,
            )
            dropped.update(NO_DEVICE if row[0] is None else str(row[0]) for row in rows)
            forgotten.update(str(row[1]) for row in rows if row[1] is not None)
        self._forget(forgotten)
        drops.rejected.update(dropped)
        for device_id, count in sorted(dropped.items()):
            logger.warning(
                "audit: dropped the %d oldest rejected messages of %s: rejected messages kept are "
                "bounded to the newest %d (%d bytes) per device and %d (%d bytes) in all; the counts "
                "still include them",
                count,
                printable(device_id) if device_id else "no device",
                self.limits.rejected_per_device,
                self.limits.rejected_bytes_per_device,
                self.limits.rejected,
                self.limits.rejected_bytes,
            )

    def _forget(self, fingerprints: set[str]) -> None:
        """Keep the fingerprints of the dropped rows, so that a copy of one arriving later is a
        duplicate, not a rejection counted twice; only the newest within the bound on rejected
        messages in all (a copy after that many newer drops is counted again)."""
        if not fingerprints:
            return
        # Sorted: two writers inserting into one unique index never wait for each other's rows in
        # opposite orders.
        self._database.execute_many(
            f"INSERT INTO {FORGOTTEN_TABLE} (fingerprint) VALUES (?) ON CONFLICT DO NOTHING",
            [(marker,) for marker in sorted(fingerprints)],
        )
        rows = self._database.execute(
            f"SELECT id FROM {FORGOTTEN_TABLE} ORDER BY id DESC LIMIT 1 OFFSET ?", (self.limits.rejected,)
        )
        if rows:
            self._database.execute(
                f"DELETE FROM {FORGOTTEN_TABLE} WHERE id IN (SELECT id FROM {FORGOTTEN_TABLE} "
                f"WHERE id <= ?{self._database.skip_locked})",
                (int(rows[0][0]),),
            )

    def count_dropped(self, drops: Drops) -> None:
        """Add the transaction's dropped rejections to the stored counts, in key order (two writers
        never wait for each other's rows in opposite orders)."""
        for device_id, count in sorted(drops.rejected.items()):
            self._database.execute(
                f"INSERT INTO {DROPPED_TABLE} (device_id, dropped) VALUES (?, ?) ON CONFLICT (device_id) "
                f"DO UPDATE SET dropped = {DROPPED_TABLE}.dropped + excluded.dropped",
                (device_id, count),
            )
