"""What the audit store takes in and hands out: messages, outcomes, progress, stored rows."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import AuditError
from gateway.sqlite_types import stored_type


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
    EVIDENCE = "evidence"
    """An image that is not the one its signed alert names (or for an alert that names none)."""
    UNSTORABLE = "unstorable"
    """The database refuses a value the message brings (``gateway.audit.database``, ``is_data_error``):
    a retry would be refused again, so the message is rejected rather than retried for ever."""


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    topic: str
    payload: bytes
    received_at: float
    """Wall-clock time it arrived, seconds since the epoch."""
    live: bool = False
    """Known to have been forwarded as it was published, not the broker's retained copy (which may
    be much older than its arrival): only the status connection tells."""
    arrival: int | None = None
    """The instance's own count of the status messages it has received, in the order they came
    (the broker's order for each device): orders them without reading a clock. Only the status
    connection counts."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    device_id: str | None
    seq: int | None
    reason: RejectReason | None = None
    detail: str = ""
    evidence: bool = False
    """The message was an evidence image (``{prefix}/{device_id}/evidence/{seq}``), not an alert."""
    status: bool = False
    """The message was the device's status (``{prefix}/{device_id}/status``), not an alert."""
    lag_s: float | None = None
    """For a stored alert: its arrival minus its alert time (``frame_ts``), in seconds."""


@dataclass(frozen=True, slots=True)
class DeviceProgress:
    device_id: str
    contiguous_seq: int
    """Every seq from 1 to this one is stored."""
    max_seq: int
    evidence_missing: int = 0
    """Stored alerts that name an image not (yet) stored."""

    @property
    def has_gap(self) -> bool:
        return self.max_seq > self.contiguous_seq

    @property
    def needs_replay(self) -> bool:
        """A gap, or images missing: what the device is asked to send again."""
        return self.has_gap or self.evidence_missing > 0


@dataclass(frozen=True, slots=True)
class StoredAlert:
    device_id: str
    seq: int
    hash: str
    prev_hash: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DamagedRow:
    """A stored alert whose values are not of the types the store writes (an edit behind the store's
    back, a bit a disk flipped in its record's header): nothing of it can be checked, and ``audit
    verify`` names it among the problems rather than failing on it."""

    device_id: str
    seq: int | None
    """None when the seq itself is not an integer."""
    problem: str

    @property
    def described(self) -> str:
        return self.problem if self.seq is None else f"seq {self.seq}: {self.problem}"


def stored_bytes(value: object, what: str) -> bytes:
    """``value``, read back from a BLOB column, as bytes; AuditError naming ``what`` (the row and its
    column) when the store holds another type there: an edit, or a bit a disk flipped in the record's
    header. Said in words (the HTTP API's 503), where ``bytes()`` of it raised a TypeError (a 500)."""
    if isinstance(value, bytes):
        return value
    raise AuditError(
        f"{what} is stored as {stored_type(value)}, not a BLOB: the store is damaged (run audit verify)"
    )


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    device_id: str | None
    seq: int | None
    topic: str
    payload: bytes
    reason: str
    received_at: float


def stored_number(value: object) -> float | None:
    """A REAL (or NULL) column's value read back, as a float (None for NULL)."""
    return None if value is None else float(value)  # type: ignore[arg-type]
