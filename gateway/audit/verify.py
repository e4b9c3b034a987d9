"""``audit verify``: re-check a whole audit store from its raw payloads, device by device.

Nothing stored is trusted: each payload is decoded again, its hash recomputed from the content, its
signature checked with the device's key (when a keys file is given) and its ``prev_hash`` compared
with the hash of the stored ``seq - 1``. For every alert that names an evidence image (alert v2
``start`` and ``instant``), the stored image is hashed again and compared with the digest and size in
the alert, so an image edited in the store is caught like an edited alert; an alert whose image never
arrived is reported as missing. v1 alerts name no image: a store holding a device's v1 alerts and
then its v2 alerts verifies like any other. So an edit made directly in the database (a changed field,
a swapped row, a deleted row) shows up as a bad hash, a chain break or a gap. Messages the
subscriber rejected are counted too: each is a modified, reordered or forged alert that reached the
log, which an auditor wants to see, so they make the report fail like the other problems. So does a
stored value of another type than the store writes (a seq that is no integer, a payload or an image
that is no BLOB: an edit, or a bit a disk flipped in a record's header): its row is damaged, named
with what is wrong with it, and nothing of it is checked. And so does a schema version in
``audit_schema`` that is no integer or is missing, which ``audit serve`` refuses or writes back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.audit.keys_file import SigningKeys, key_rings, verify_signed
from gateway.audit.store import AuditStore, DamagedRow, StoredAlert
from gateway.domain import Alert
from gateway.printable import printable
from gateway.protocol.alerts import (
    ZERO_HASH,
    AlertVerificationError,
    InvalidAlertError,
    alert_hash,
    canonical_json,
    decode_alert,
)
from gateway.wording import counted

__all__ = ["DeviceReport", "VerifyReport", "verify_store"]

IMAGE_CHUNK = 50
"""Images hashed per read: bounds the memory a store of large images needs."""
LISTED = 20
"""The most seqs, or damaged rows, a problem of the report names."""


@dataclass(frozen=True, slots=True)
class DeviceReport:
    device_id: str
    alerts: int
    first_seq: int | None
    last_seq: int | None
    gaps: tuple[tuple[int, int], ...]
    """Missing seqs as inclusive ranges, from seq 1 up to the last stored one."""
    chain_breaks: tuple[int, ...]
    """Seqs whose prev_hash is not the stored hash of seq - 1 (ZERO_HASH for seq 1)."""
    bad_hashes: tuple[int, ...]
    """Seqs whose content does not hash to their hash, or whose payload is not alert v1."""
    bad_signatures: tuple[int, ...]
    rejected: int
    signatures_checked: bool
    """False when no keys file was given or it has no key for this device."""
    key_missing: bool = False
    """A keys file was given without a key for this device, which has stored alerts."""
    evidence_missing: tuple[int, ...] = ()
    """Seqs of alerts that name an image none of which is stored."""
    evidence_mismatch: tuple[int, ...] = ()
    """Seqs of alerts whose stored image does not hash to the digest (or size) the alert names."""
    evidence_checked: int = 0
    not_canonical: tuple[int, ...] = ()
    """Seqs whose stored bytes are not the canonical JSON of their fields, which is what the hash
    and the signature cover (the subscriber refuses such alerts; an older one stored them)."""
    damaged: tuple[str, ...] = ()
    """Rows (alerts, images) stored with a value of another type than the store writes, each with
    what is wrong with it; a row whose seq is no integer counts in no other field."""

    @property
    def missing(self) -> int:
        return sum(last - first + 1 for first, last in self.gaps)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.gaps:
            ranges = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in self.gaps)
            found.append(f"{self.missing} missing seq ({ranges})")
        if self.chain_breaks:
            found.append(f"chain breaks at seq {_listing(self.chain_breaks)}")
        if self.bad_hashes:
            found.append(f"content does not match its hash at seq {_listing(self.bad_hashes)}")
        if self.bad_signatures:
            found.append(f"bad signatures at seq {_listing(self.bad_signatures)}")
        if self.not_canonical:
            found.append(
                f"stored bytes are not the signed canonical JSON at seq {_listing(self.not_canonical)}"
            )
        if self.evidence_missing:
            found.append(f"evidence missing for seq {_listing(self.evidence_missing)}")
        if self.evidence_mismatch:
            found.append(f"evidence does not match its alert at seq {_listing(self.evidence_mismatch)}")
        if self.damaged:
            shown = "; ".join(self.damaged[:LISTED])
            more = f" (+{len(self.damaged) - LISTED} more)" if len(self.damaged) > LISTED else ""
            found.append(f"{counted(len(self.damaged), 'damaged row')} ({shown}){more}")
        if self.rejected:
            found.append(f"{self.rejected} rejected messages")
        if self.key_missing:
            found.append("no key for this device in the keys file")
        return found


@dataclass(frozen=True, slots=True)
class VerifyReport:
    devices: tuple[DeviceReport, ...]
    unattributed_rejected: int = 0
    """Rejected messages whose topic named no device."""
    keys_given: bool = False
    notes: tuple[str, ...] = field(default=())
    store_problems: tuple[str, ...] = ()
    """What is wrong with the store as a whole rather than a device's alerts (its schema version)."""

    @property
    def ok(self) -> bool:
        return (
            self.unattributed_rejected == 0
            and not self.store_problems
            and not any(device.problems for device in self.devices)
        )

    def render(self) -> str:
        lines = []
        for device in self.devices:
            span = f"seq {device.first_seq}..{device.last_seq}" if device.alerts else "no alerts"
            signatures = "signatures checked" if device.signatures_checked else "signatures NOT checked"
            images = (
                f" ({device.evidence_checked} evidence images checked)" if device.evidence_checked else ""
            )
            status = "; ".join(device.problems) or "ok"
            # The id comes from a topic anyone on the broker may publish to: a newline in it would
            # start a line of the report's own, a U+202E would show the rest of its line reversed.
            name = printable(device.device_id)
            lines.append(f"{name}: {counted(device.alerts, 'alert')}, {span}, {signatures}: {status}{images}")
        if self.unattributed_rejected:
            lines.append(f"(no device): {self.unattributed_rejected} rejected messages")
        lines.extend(f"(store): {problem}" for problem in self.store_problems)
        if not self.devices and not self.unattributed_rejected:
            lines.append("no alerts stored")
        lines.extend(self.notes)
        lines.append("OK" if self.ok else "PROBLEMS FOUND")
        return "\n".join(lines)


def verify_store(store: AuditStore, keys: SigningKeys | None = None) -> VerifyReport:
    """Every device's alerts; their signatures with ``keys`` when given (any of a device's keys)."""
    rejected = store.rejected_counts()
    rings = None if keys is None else key_rings(keys)
    reports = tuple(
        _verify_device(store, device_id, rings, rejected.get(device_id, 0))
        for device_id in store.device_ids()
    )
    notes: tuple[str, ...] = ()
    if keys is None:
        notes = ("no keys file given: hashes and the chain were checked, signatures were not",)
    store_problems = () if store.schema_problem is None else (store.schema_problem,)
    return VerifyReport(reports, rejected.get(None, 0), keys is not None, notes, store_problems)


def _verify_device(
    store: AuditStore, device_id: str, keys: dict[str, tuple[bytes, ...]] | None, rejected: int
) -> DeviceReport:
    key = None if keys is None else keys.get(device_id)
    gaps: list[tuple[int, int]] = []
    chain_breaks: list[int] = []
    bad_hashes: list[int] = []
    bad_signatures: list[int] = []
    not_canonical: list[int] = []
    damaged: list[str] = []
    count = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    images = _ImageCheck(store, device_id)
    for stored in store.rows(device_id):
        seq = stored.seq
        if isinstance(stored, DamagedRow):
            damaged.append(stored.described)
        if seq is None:
            continue  # no place in the chain: its seq, if it had one, shows as missing
        count += 1
        first_seq = seq if first_seq is None else first_seq
        expected_seq = 1 if last_seq is None else last_seq + 1
        if seq > expected_seq:
            gaps.append((expected_seq, seq - 1))
        if isinstance(stored, DamagedRow):
            last_seq, last_hash = seq, None  # the next alert's link cannot be checked
            continue
        alert = _check_content(stored, key, bad_hashes, bad_signatures)
        # Only of an alert that verifies otherwise: an edited one is already named for its hash.
        faulty = stored.seq in bad_hashes[-1:] or stored.seq in bad_signatures[-1:]
        if alert is not None and not faulty and canonical_json(json.loads(stored.payload)) != stored.payload:
            not_canonical.append(stored.seq)
        if alert is not None:
            # From the payload, not the indexed columns: the payload is what the signature covers.
            if stored.seq == 1:
                link_ok = alert.prev_hash == ZERO_HASH
            else:
                link_ok = last_seq != stored.seq - 1 or last_hash is None or alert.prev_hash == last_hash
            if not link_ok:
                chain_breaks.append(stored.seq)
            if alert.event.evidence is not None:
                images.expect(stored.seq, alert.event.evidence.sha256, alert.event.evidence.bytes)
        last_seq, last_hash = stored.seq, None if alert is None else alert.hash
    images.finish()
    damaged.extend(images.damaged)
    return DeviceReport(
        device_id=device_id,
        alerts=count,
        first_seq=first_seq,
        last_seq=last_seq,
        gaps=tuple(gaps),
        chain_breaks=tuple(chain_breaks),
        bad_hashes=tuple(bad_hashes),
        bad_signatures=tuple(bad_signatures),
        rejected=rejected,
        signatures_checked=key is not None,
        key_missing=keys is not None and key is None and count > 0,
        evidence_missing=tuple(images.missing),
        evidence_mismatch=tuple(images.mismatched),
        evidence_checked=images.checked,
        not_canonical=tuple(not_canonical),
        damaged=tuple(damaged),
    )


class _ImageCheck:
    """Compares stored images with what their alerts name, a chunk of seqs at a time."""

    def __init__(self, store: AuditStore, device_id: str) -> None:
        self._store = store
        self._device_id = device_id
        self._expected: dict[int, tuple[str, int]] = {}
        self.missing: list[int] = []
        self.mismatched: list[int] = []
        self.damaged: list[str] = []
        self.checked = 0

    def expect(self, seq: int, sha256: str, size: int) -> None:
        self._expected[seq] = (sha256, size)
        if len(self._expected) >= IMAGE_CHUNK:
            self.finish()

    def finish(self) -> None:
        found = self._store.evidence_digests(self._device_id, list(self._expected))
        for seq, named in sorted(self._expected.items()):
            stored = found.get(seq, [])
            hashed = [image for image in stored if not isinstance(image, str)]
            self.damaged.extend(f"seq {seq}: {image}" for image in stored if isinstance(image, str))
            if not stored:
                self.missing.append(seq)
            elif any(image != named for image in hashed):
                self.mismatched.append(seq)
            self.checked += len(hashed)
        self._expected.clear()


def _check_content(
    stored: StoredAlert, key: Sequence[bytes] | None, bad_hashes: list[int], bad_signatures: list[int]
) -> Alert | None:
    """Record a bad hash or signature; return the decoded alert, None when it is not this alert."""
    try:
        alert = decode_alert(stored.payload)
        if alert.device_id != stored.device_id or alert.seq != stored.seq:
            bad_hashes.append(stored.seq)
            return None
        if key is not None:
            verify_signed(stored.payload, key)
        elif alert_hash(json.loads(stored.payload)) != alert.hash:
            bad_hashes.append(stored.seq)
    except InvalidAlertError:
        bad_hashes.append(stored.seq)
        return None
    except AlertVerificationError as exc:
        (bad_signatures if exc.reason == "signature" else bad_hashes).append(stored.seq)
    return alert


def _listing(seqs: tuple[int, ...], shown: int = LISTED) -> str:
    text = ", ".join(str(seq) for seq in seqs[:shown])
    return f"{text} (+{len(seqs) - shown} more)" if len(seqs) > shown else text
