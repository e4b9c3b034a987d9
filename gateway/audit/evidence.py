"""Evidence images on the audit side: what arrives on ``{prefix}/{device_id}/evidence/{seq}``, checked
against the digest that the device's signed alert ``seq`` names.

An image is its own MQTT message, so it may arrive before its alert or after it, through another
audit instance of the share group. Both orders end the same way, inside the transaction that holds
the device's lock:

- alert stored first: the image's SHA-256 must equal the alert's ``evidence.sha256``; then it is
  stored as verified and the alert's evidence is no longer missing. Any other image for that seq,
  or an image for an alert that names none, is rejected (reason ``evidence``) with its bytes.
- image first: it is held, unverified, under (device, seq, digest). When the alert is stored, the
  held image with its digest becomes verified and any other held for that seq is rejected.

A copy of a stored image (QoS 1 redelivery, replay) is a duplicate and changes nothing. Alerts whose
image has not arrived are ``evidence_missing``; the subscriber asks the device to replay them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from gateway.audit.database import Database
from gateway.audit.records import (
    IngestResult,
    Outcome,
    ReceivedMessage,
    RejectReason,
    stored_bytes,
)
from gateway.audit.rejections import RejectionRecorder
from gateway.printable import printable
from gateway.protocol.alerts import MAX_SEQ
from gateway.sqlite_types import stored_type

logger = logging.getLogger(__name__)

SEQ = re.compile(r"[1-9][0-9]{0,18}")
"""A seq in an evidence topic, as the device writes it (at most MAX_SEQ, checked after)."""

MAX_IMAGE_BYTES = 32 * 2**20
"""A bigger message on an evidence topic is rejected unread: no device sends images this large."""
LOOKUP_CHUNK = 500
IMAGE_CHUNK = 50
"""Images read at once by ``digests``: bounds the memory ``audit verify`` needs."""


def evidence_target(topic: str, prefix: str) -> tuple[str, int | None] | None:
    """``{prefix}/{device_id}/evidence/{seq}`` -> (device_id, seq), the seq None when it is not one
    (an integer from 1 to MAX_SEQ in ASCII digits); None for any other topic."""
    head = f"{prefix}/"
    if not topic.startswith(head):
        return None
    device_id, marker, seq = topic[len(head) :].partition("/evidence/")
    if not marker or not device_id or "/" in device_id:
        return None
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not SEQ.fullmatch(seq) or int(seq) > MAX_SEQ:
        return device_id, None
    return device_id, int(seq)


@dataclass(frozen=True, slots=True)
class ReceivedImage:
    index: int
    """Its place in the ingested batch."""
    device_id: str
    seq: int
    sha256: str
    message: ReceivedMessage


def _in_list(count: int) -> str:
    return ", ".join("?" * count)


def _chunks(seqs: Sequence[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(seqs)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


class EvidenceLedger:
    """The evidence tables, used by the store inside its transactions (the device already locked)."""

    def __init__(self, database: Database, topic_prefix: str, rejections: RejectionRecorder) -> None:
        self._database = database
        self._prefix = topic_prefix
        self._rejections = rejections

    def adopt(self, device_id: str, digests: Mapping[int, str | None]) -> set[int]:
        """For alerts being stored with these image digests (seq -> sha256, None for an alert that
        names no image): held images that match become verified, held ones that do not are
        rejected. Returns the seqs now complete."""
        complete: set[int] = set()
        for chunk in _chunks(list(digests), LOOKUP_CHUNK):
            rows = self._database.execute(
                "SELECT seq, sha256, data, received_at FROM audit_evidence WHERE device_id = ? "
                f"AND verified = 0 AND seq IN ({_in_list(len(chunk))})",
                (device_id, *chunk),
            )
            for row_seq, digest, data, held_since in rows:
                seq = int(row_seq)
                key = (device_id, seq, digest)
                if digests[seq] is not None and digest == digests[seq]:
                    self._database.execute(
                        "UPDATE audit_evidence SET verified = 1 "
                        "WHERE device_id = ? AND seq = ? AND sha256 = ?",
                        key,
                    )
                    complete.add(seq)
                    continue
                self._database.execute(
                    "DELETE FROM audit_evidence WHERE device_id = ? AND seq = ? AND sha256 = ?", key
                )
                self._reject_held(device_id, seq, bytes(data), float(held_since), digests[seq])
        return complete

    def store(self, device_id: str, images: Sequence[ReceivedImage]) -> list[tuple[int, IngestResult]]:
        """Check and store one device's images; results by batch index."""
        seqs = list({image.seq for image in images})
        named: dict[int, str | None] = {}
        held: set[tuple[int, str]] = set()
        for chunk in _chunks(seqs, LOOKUP_CHUNK):
            parameters = (device_id, *chunk)
            rows = self._database.execute(
                "SELECT seq, evidence_sha256 FROM audit_alerts WHERE device_id = ? "
                f"AND seq IN ({_in_list(len(chunk))})",
                parameters,
            )
            named.update({int(seq): None if digest is None else str(digest) for seq, digest in rows})
            rows = self._database.execute(
                "SELECT seq, sha256 FROM audit_evidence WHERE device_id = ? "
                f"AND seq IN ({_in_list(len(chunk))})",
                parameters,
            )
            held.update((int(seq), str(digest)) for seq, digest in rows)
        results = []
        for image in images:
            results.append((image.index, self._store_one(image, named, held)))
        return results

    def _store_one(
        self, image: ReceivedImage, named: Mapping[int, str | None], held: set[tuple[int, str]]
    ) -> IngestResult:
        seq, digest = image.seq, image.sha256
        if seq in named and named[seq] != digest:
            detail = (
                f"alert {seq} carries no evidence"
                if named[seq] is None
                else f"image sha256 {digest} is not the {named[seq]} that signed alert {seq} names"
            )
            return IngestResult(
                Outcome.REJECTED, image.device_id, seq, RejectReason.EVIDENCE, detail, evidence=True
            )
        if (seq, digest) in held:
            return IngestResult(Outcome.DUPLICATE, image.device_id, seq, evidence=True)
        verified = seq in named
        self._database.execute(
            "INSERT INTO audit_evidence (device_id, seq, sha256, data, received_at, verified) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (image.device_id, seq, digest, image.message.payload, image.message.received_at, int(verified)),
        )
        held.add((seq, digest))
        if verified:
            self._database.execute(
                "UPDATE audit_alerts SET evidence_missing = 0 WHERE device_id = ? AND seq = ?",
                (image.device_id, seq),
            )
            return IngestResult(Outcome.STORED, image.device_id, seq, evidence=True)
        return IngestResult(
            Outcome.STORED, image.device_id, seq, detail=f"held until alert {seq} arrives", evidence=True
        )

    def _reject_held(
        self, device_id: str, seq: int, data: bytes, received_at: float, named: str | None
    ) -> None:
        actual = hashlib.sha256(data).hexdigest()
        reason = (
            f"evidence: alert {seq} carries no evidence"
            if named is None
            else f"evidence: image sha256 {actual} is not the {named} that signed alert {seq} names"
        )
        topic = f"{self._prefix}/{device_id}/evidence/{seq}"
        logger.warning("audit: rejected a held image from %s: %s", printable(topic), reason)
        # Recorded with the batch's rejections: their locks are taken in one sorted acquisition.
        self._rejections.defer(
            (device_id, seq, topic, data, reason, received_at), RejectReason.EVIDENCE.value
        )

    # Reading (autocommit: each read is its own statement).

    def digests(self, device_id: str, seqs: Sequence[int]) -> dict[int, list[tuple[str, int] | str]]:
        """seq -> (sha256, size) of each verified image stored for those seqs, computed from the
        stored bytes (not from the indexed digest): what ``audit verify`` compares with the alert.
        An image stored as another type than a BLOB (an edit, a flipped bit) has no bytes to hash:
        it is what is wrong with it instead."""
        found: dict[int, list[tuple[str, int] | str]] = {}
        for chunk in _chunks(seqs, IMAGE_CHUNK):
            rows = self._database.execute(
                "SELECT seq, data FROM audit_evidence WHERE device_id = ? AND verified = 1 "
                f"AND seq IN ({_in_list(len(chunk))})",
                (device_id, *chunk),
            )
            for seq, data in rows:
                found.setdefault(int(seq), []).append(
                    (hashlib.sha256(data).hexdigest(), len(data))
                    if isinstance(data, bytes)
                    else f"evidence stored as {stored_type(data)}, not a BLOB"
                )
        return found

    def image(self, device_id: str, seq: int) -> bytes | None:
        """The verified image of alert ``seq``, None when none is stored."""
        rows = self._database.execute(
            "SELECT data FROM audit_evidence WHERE device_id = ? AND seq = ? AND verified = 1",
            (device_id, seq),
        )
        return stored_bytes(rows[0][0], f"the image of {printable(device_id)} seq {seq}") if rows else None

    def missing_seqs(self, device_id: str, limit: int) -> list[int]:
        rows = self._database.execute(
            "SELECT seq FROM audit_alerts WHERE device_id = ? AND evidence_missing = 1 "
            f"ORDER BY seq LIMIT {int(limit)}",
            (device_id,),
        )
        return [int(row[0]) for row in rows]
