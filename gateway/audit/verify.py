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
log, which an auditor wants to see, so they make the report fail like the other problems.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.audit.store import AuditStore, StoredAlert
from gateway.config import read_text_file
from gateway.domain import Alert
from gateway.errors import AuditError
from gateway.printable import printable
from gateway.protocol.alerts import (
    ZERO_HASH,
    AlertVerificationError,
    InvalidAlertError,
    alert_hash,
    canonical_json,
    decode_alert,
    verify_payload,
)

MIN_KEY_BYTES = 16
IMAGE_CHUNK = 50
"""Images hashed per read: bounds the memory a store of large images needs."""


TOPIC_LEVEL_BREAKERS = ("/", "+", "#", "\x00")
"""What a device id cannot hold: it is one MQTT topic level (``{prefix}/{device_id}/alerts``), which
``/`` splits, ``+`` and ``#`` are wildcards in and NUL is not allowed in, so no topic could ever
name that device and its alerts would all be refused as from a device with no key."""


TOPIC_LEVEL_RULE = "it must be non-empty, without '/', '+', '#' or NUL"
PATH_STEPS = frozenset({".", ".."})
"""Ids a URL cannot name: ``/v1/devices/..`` is a path step to ``/v1/`` for browsers and HTTP
clients (``%2E%2E`` too, by the URL standard), so the fleet page could never open such a device."""


def _unusable(name: str) -> str | None:
    """Why ``name`` cannot be a device id, or None when it can."""
    if not name or any(character in name for character in TOPIC_LEVEL_BREAKERS):
        return f"cannot be an MQTT topic level ({TOPIC_LEVEL_RULE}), so no alert could name it"
    if name in PATH_STEPS:
        return "is a URL path step ('.' or '..'), so the fleet API and page could never name it"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate), so no MQTT topic, which is UTF-8, could name it"
    return None


class _UnusableDeviceIdError(yaml.YAMLError):
    def __init__(self, name: str, line: int, reason: str) -> None:
        self.name = name
        self.line = line
        self.reason = reason
        super().__init__(name)


class _KeysLoader(yaml.BaseLoader):
    """Every scalar as written (safe_load reads the device id 007 as the integer 7, "on" as True and
    1.10 as 1.1, so those devices' alerts were refused for want of a key that is there), and a device
    named twice is an error (else the later key wins without a word), as is a device id no MQTT
    topic level can hold."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if isinstance(name, str) and name in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"device {name!r} is named twice", key_node.start_mark
                )
            if isinstance(name, str):
                if (reason := _unusable(name)) is not None:
                    raise _UnusableDeviceIdError(name, key_node.start_mark.line + 1, reason)
                seen.add(name)
        return super().construct_mapping(node, deep)


def load_keys(path: Path) -> dict[str, bytes]:
    """A YAML or JSON mapping of device_id -> hex HMAC key (JSON is YAML, so one parser reads both)."""
    try:
        data = yaml.load(read_text_file(path), Loader=_KeysLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read the keys file {path}: {exc}") from exc
    except _UnusableDeviceIdError as exc:
        raise AuditError(f"{path}, line {exc.line}: device id {exc.name!r} {exc.reason}") from None
    except yaml.YAMLError as exc:
        # PyYAML's own message quotes the lines around the problem, and those hold keys (so it is
        # not chained either: a traceback would print it).
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or "not YAML or JSON"
        raise AuditError(f"the keys file {path} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        # PyYAML composes recursively: a few thousand '[' exhaust the interpreter's stack.
        raise AuditError(f"the keys file {path} is not valid YAML: values nested too deep") from None
    if not isinstance(data, dict):
        raise AuditError(f"{path}: must be a mapping of device_id to hex key")
    keys: dict[str, bytes] = {}
    for device_id, hex_key in data.items():
        if not isinstance(device_id, str) or not isinstance(hex_key, str):
            # Read as text (no str() of it): a list or mapping here may be an alias bomb of billions.
            shown = repr(device_id) if isinstance(device_id, str) else "a list or mapping"
            raise AuditError(f"{path}: device {shown} must be a device id and a hex key, both text")
        try:
            key = bytes.fromhex(hex_key)
        except ValueError as exc:
            # The key itself stays out of the message: it is a secret.
            raise AuditError(f"{path}: the key of device {device_id!r} is not hex") from exc
        if len(key) < MIN_KEY_BYTES:
            raise AuditError(f"{path}: the key of device {device_id!r} is shorter than {MIN_KEY_BYTES} bytes")
        keys[device_id] = key
    return keys


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

    @property
    def ok(self) -> bool:
        return self.unattributed_rejected == 0 and not any(device.problems for device in self.devices)

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
            lines.append(f"{name}: {device.alerts} alerts, {span}, {signatures}: {status}{images}")
        if self.unattributed_rejected:
            lines.append(f"(no device): {self.unattributed_rejected} rejected messages")
        if not self.devices and not self.unattributed_rejected:
            lines.append("no alerts stored")
        lines.extend(self.notes)
        lines.append("OK" if self.ok else "PROBLEMS FOUND")
        return "\n".join(lines)


def verify_store(store: AuditStore, keys: Mapping[str, bytes] | None = None) -> VerifyReport:
    rejected = store.rejected_counts()
    reports = tuple(
        _verify_device(store, device_id, keys, rejected.get(device_id, 0)) for device_id in store.device_ids()
    )
    notes: tuple[str, ...] = ()
    if keys is None:
        notes = ("no keys file given: hashes and the chain were checked, signatures were not",)
    return VerifyReport(reports, rejected.get(None, 0), keys is not None, notes)


def _verify_device(
    store: AuditStore, device_id: str, keys: Mapping[str, bytes] | None, rejected: int
) -> DeviceReport:
    key = None if keys is None else keys.get(device_id)
    gaps: list[tuple[int, int]] = []
    chain_breaks: list[int] = []
    bad_hashes: list[int] = []
    bad_signatures: list[int] = []
    not_canonical: list[int] = []
    count = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    images = _ImageCheck(store, device_id)
    for stored in store.alerts(device_id):
        count += 1
        first_seq = stored.seq if first_seq is None else first_seq
        expected_seq = 1 if last_seq is None else last_seq + 1
        if stored.seq > expected_seq:
            gaps.append((expected_seq, stored.seq - 1))
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
    )


class _ImageCheck:
    """Compares stored images with what their alerts name, a chunk of seqs at a time."""

    def __init__(self, store: AuditStore, device_id: str) -> None:
        self._store = store
        self._device_id = device_id
        self._expected: dict[int, tuple[str, int]] = {}
        self.missing: list[int] = []
        self.mismatched: list[int] = []
        self.checked = 0

    def expect(self, seq: int, sha256: str, size: int) -> None:
        self._expected[seq] = (sha256, size)
        if len(self._expected) >= IMAGE_CHUNK:
            self.finish()

    def finish(self) -> None:
        found = self._store.evidence_digests(self._device_id, list(self._expected))
        for seq, named in sorted(self._expected.items()):
            stored = found.get(seq, [])
            if not stored:
                self.missing.append(seq)
            elif any(image != named for image in stored):
                self.mismatched.append(seq)
            self.checked += len(stored)
        self._expected.clear()


def _check_content(
    stored: StoredAlert, key: bytes | None, bad_hashes: list[int], bad_signatures: list[int]
) -> Alert | None:
    """Record a bad hash or signature; return the decoded alert, None when it is not this alert."""
    try:
        alert = decode_alert(stored.payload)
        if alert.device_id != stored.device_id or alert.seq != stored.seq:
            bad_hashes.append(stored.seq)
            return None
        if key is not None:
            verify_payload(stored.payload, key)
        elif alert_hash(json.loads(stored.payload)) != alert.hash:
            bad_hashes.append(stored.seq)
    except InvalidAlertError:
        bad_hashes.append(stored.seq)
        return None
    except AlertVerificationError as exc:
        (bad_signatures if exc.reason == "signature" else bad_hashes).append(stored.seq)
    return alert


def _listing(seqs: tuple[int, ...], shown: int = 20) -> str:
    text = ", ".join(str(seq) for seq in seqs[:shown])
    return f"{text} (+{len(seqs) - shown} more)" if len(seqs) > shown else text
