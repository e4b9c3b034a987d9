"""Alert v1 <-> bytes: canonical JSON, the hash chain and the HMAC signature (DESIGN.md, MQTT contract).

The device and the cloud audit log must agree on every byte, so this module is the single place that
knows the wire format. ``hash`` is the hex SHA-256 of the canonical JSON of every field except
``hash`` and ``sig``; ``sig`` is the hex HMAC-SHA256 of the ``hash`` string (its ASCII bytes) with the
device's key; ``prev_hash`` is the previous alert's ``hash`` or ``ZERO_HASH`` for seq 1.

``frame_ts`` is written with exactly microsecond precision (``2026-01-02T03:04:05.123456Z``) and
decoding accepts only that form, so ``encode_alert(decode_alert(payload)) == payload`` for every
payload this module produced; verification of received payloads still hashes the fields as received
(``verify_payload``), so a peer that serialises differently is judged on its content, not its bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from gateway.domain import Alert, AlertEvent, AlertKind, ModelRef
from gateway.errors import DeliveryError

__all__ = [
    "FIELDS",
    "SCHEMA",
    "ZERO_HASH",
    "AlertVerificationError",
    "InvalidAlertError",
    "alert_fields",
    "alert_hash",
    "alert_to_dict",
    "build_alert",
    "build_alert_payload",
    "canonical_json",
    "decode_alert",
    "encode_alert",
    "format_timestamp",
    "parse_timestamp",
    "sign",
    "verify_alert",
    "verify_payload",
]

SCHEMA = "edge-gateway.alert.v1"
ZERO_HASH = "0" * 64
FIELDS = frozenset(
    {
        "schema",
        "alert_id",
        "device_id",
        "seq",
        "event_id",
        "kind",
        "camera_id",
        "rule",
        "label",
        "score",
        "zone",
        "box",
        "frame_ts",
        "model",
        "prev_hash",
        "hash",
        "sig",
    }
)
_UNHASHED = frozenset({"hash", "sig"})
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InvalidAlertError(DeliveryError):
    """A payload is not a well-formed alert v1; ``field`` names the offending field ('' for the whole)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class AlertVerificationError(DeliveryError):
    """A well-formed alert whose hash, signature or chain link is wrong.

    ``reason`` is one of ``"hash"``, ``"signature"``, ``"chain"``.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


# One encoder for every call: json.dumps with options builds a new one each time, which is a
# measurable share of the outbox's per-alert cost.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(obj: object) -> bytes:
    """Keys sorted, separators ``,`` and ``:``, no whitespace, UTF-8 (not ASCII-escaped), no NaN."""
    try:
        text = _CANONICAL.encode(obj)
    except (TypeError, ValueError) as exc:
        raise InvalidAlertError("", f"not representable as canonical JSON: {exc}") from exc
    return text.encode("utf-8")


def format_timestamp(epoch_s: float) -> str:
    """Seconds since the epoch -> RFC 3339 UTC with microseconds, e.g. ``2026-01-02T03:04:05.123456Z``."""
    seconds, micros = divmod(round(epoch_s * 1_000_000), 1_000_000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{micros:06d}Z"


def parse_timestamp(text: str) -> float:
    if not _TIMESTAMP.match(text):
        raise ValueError(f"{text!r} is not RFC 3339 UTC with microseconds (YYYY-MM-DDTHH:MM:SS.ffffffZ)")
    # fromisoformat takes "+00:00" but not "Z" before Python 3.11; it is ~50x faster than strptime,
    # which matters on the audit side (one parse per stored alert).
    moment = datetime.fromisoformat(text[:-1] + "+00:00")
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros / 1_000_000


def alert_fields(device_id: str, seq: int, event: AlertEvent, prev_hash: str) -> dict[str, Any]:
    """Every hashed field of an alert (all but ``hash`` and ``sig``), as JSON-ready values."""
    return {
        "schema": SCHEMA,
        "alert_id": f"{device_id}:{seq}",
        "device_id": device_id,
        "seq": seq,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "camera_id": event.camera_id,
        "rule": event.rule,
        "label": event.label,
        # float() because scores often arrive as numpy scalars, which json cannot encode.
        "score": float(event.score),
        "zone": event.zone,
        "box": None if event.box is None else [float(value) for value in event.box],
        "frame_ts": format_timestamp(event.frame_ts),
        "model": {"name": event.model.name, "version": event.model.version},
        "prev_hash": prev_hash,
    }


def alert_hash(fields: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of ``fields`` without ``hash`` and ``sig`` (ignored if present)."""
    hashed = {key: value for key, value in fields.items() if key not in _UNHASHED}
    return hashlib.sha256(canonical_json(hashed)).hexdigest()


def sign(hash_hex: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of the hash string with the device's key."""
    return hmac.digest(key, hash_hex.encode("ascii"), "sha256").hex()


def build_alert(device_id: str, seq: int, event: AlertEvent, prev_hash: str, key: bytes) -> Alert:
    return build_alert_payload(device_id, seq, event, prev_hash, key)[0]


def build_alert_payload(
    device_id: str, seq: int, event: AlertEvent, prev_hash: str, key: bytes
) -> tuple[Alert, bytes]:
    """The signed alert and its payload, ``== encode_alert(alert)``, building the fields only once."""
    fields = alert_fields(device_id, seq, event, prev_hash)
    digest = hashlib.sha256(canonical_json(fields)).hexdigest()
    signature = sign(digest, key)
    fields["hash"] = digest
    fields["sig"] = signature
    alert = Alert(device_id=device_id, seq=seq, event=event, prev_hash=prev_hash, hash=digest, sig=signature)
    return alert, canonical_json(fields)


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    fields = alert_fields(alert.device_id, alert.seq, alert.event, alert.prev_hash)
    fields["hash"] = alert.hash
    fields["sig"] = alert.sig
    return fields


def encode_alert(alert: Alert) -> bytes:
    return canonical_json(alert_to_dict(alert))


def _parse_object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidAlertError("", f"not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidAlertError("", "not a JSON object")
    return data


def _text(data: Mapping[str, Any], field: str, *, nullable: bool = False) -> Any:
    value = data[field]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidAlertError(field, f"must be a non-empty string, got {value!r}")
    return value


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidAlertError(field, f"must be a finite number, got {value!r}")
    return float(value)


def _hex64(data: Mapping[str, Any], field: str) -> str:
    value = data[field]
    if not isinstance(value, str) or not _HEX64.match(value):
        raise InvalidAlertError(field, "must be 64 lowercase hex digits")
    return value


def _from_dict(data: Mapping[str, Any]) -> Alert:
    missing = sorted(FIELDS - data.keys())
    if missing:
        raise InvalidAlertError(missing[0], f"missing (all missing: {', '.join(missing)})")
    unknown = sorted(data.keys() - FIELDS)
    if unknown:
        raise InvalidAlertError(unknown[0], "unknown field")
    if data["schema"] != SCHEMA:
        raise InvalidAlertError("schema", f"must be {SCHEMA!r}, got {data['schema']!r}")
    device_id = _text(data, "device_id")
    seq = data["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise InvalidAlertError("seq", f"must be an integer >= 1, got {seq!r}")
    if data["alert_id"] != f"{device_id}:{seq}":
        raise InvalidAlertError("alert_id", f"must be '{device_id}:{seq}', got {data['alert_id']!r}")
    try:
        kind = AlertKind(data["kind"])
    except ValueError as exc:
        raise InvalidAlertError("kind", f"must be start, update or end, got {data['kind']!r}") from exc
    score = _number("score", data["score"])
    if not 0.0 <= score <= 1.0:
        raise InvalidAlertError("score", f"must be within 0..1, got {score!r}")
    raw_box = data["box"]
    box: tuple[float, float, float, float] | None = None
    if raw_box is not None:
        if not isinstance(raw_box, list) or len(raw_box) != 4:
            raise InvalidAlertError("box", "must be null or a list of 4 numbers")
        x1, y1, x2, y2 = (_number("box", value) for value in raw_box)
        box = (x1, y1, x2, y2)
    frame_ts_text = data["frame_ts"]
    try:
        frame_ts = parse_timestamp(frame_ts_text) if isinstance(frame_ts_text, str) else None
    except ValueError as exc:
        raise InvalidAlertError("frame_ts", str(exc)) from exc
    if frame_ts is None:
        raise InvalidAlertError("frame_ts", "must be a string")
    model = data["model"]
    if not isinstance(model, dict) or set(model) != {"name", "version"}:
        raise InvalidAlertError("model", 'must be {"name": ..., "version": ...}')
    name, version = model["name"], model["version"]
    if not isinstance(name, str) or isinstance(version, bool) or not isinstance(version, int):
        raise InvalidAlertError("model", "name must be a string and version an integer")
    event = AlertEvent(
        event_id=_text(data, "event_id"),
        kind=kind,
        camera_id=_text(data, "camera_id"),
        rule=_text(data, "rule"),
        label=_text(data, "label"),
        score=score,
        zone=_text(data, "zone", nullable=True),
        box=box,
        frame_ts=frame_ts,
        model=ModelRef(name, version),
    )
    return Alert(
        device_id=device_id,
        seq=seq,
        event=event,
        prev_hash=_hex64(data, "prev_hash"),
        hash=_hex64(data, "hash"),
        sig=_hex64(data, "sig"),
    )


def decode_alert(payload: bytes) -> Alert:
    """Parse and validate an alert v1 payload; InvalidAlertError names the first bad field."""
    return _from_dict(_parse_object(payload))


def _check(alert: Alert, computed_hash: str, key: bytes, prev_hash: str | None) -> None:
    if computed_hash != alert.hash:
        raise AlertVerificationError("hash", f"seq {alert.seq}: hash does not match the content")
    if not hmac.compare_digest(sign(alert.hash, key), alert.sig):
        raise AlertVerificationError("signature", f"seq {alert.seq}: signature does not verify")
    if prev_hash is not None and alert.prev_hash != prev_hash:
        raise AlertVerificationError(
            "chain", f"seq {alert.seq}: prev_hash does not link to the previous alert"
        )


def verify_alert(alert: Alert, key: bytes, prev_hash: str | None = None) -> None:
    """Raise AlertVerificationError unless hash, signature and (when given) the chain link hold.

    ``prev_hash`` is the hash of alert ``seq - 1`` (``ZERO_HASH`` for seq 1) or None when unknown.
    """
    _check(
        alert,
        alert_hash(alert_fields(alert.device_id, alert.seq, alert.event, alert.prev_hash)),
        key,
        prev_hash,
    )


def verify_payload(payload: bytes, key: bytes, prev_hash: str | None = None) -> Alert:
    """Decode and verify received bytes, hashing the fields exactly as received."""
    data = _parse_object(payload)
    alert = _from_dict(data)
    _check(alert, alert_hash(data), key, prev_hash)
    return alert
