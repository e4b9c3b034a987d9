from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json

import pytest

from gateway.domain import Alert, AlertEvent, AlertKind, Direction, Evidence
from gateway.protocol.alerts import (
    ZERO_HASH,
    AlertVerificationError,
    InvalidAlertError,
    alert_hash,
    alert_to_dict,
    build_alert,
    build_alert_payload,
    canonical_json,
    decode_alert,
    encode_alert,
    format_timestamp,
    parse_timestamp,
    verify_alert,
    verify_payload,
)
from tests.unit.protocol.alert_events import alert_event

KEY = b"k" * 32


def event(seq: int = 1, box: tuple[float, float, float, float] | None = (0.1, 0.2, 0.3, 0.4)) -> AlertEvent:
    return alert_event(seq, label="persön", box=box)


def chain(count: int) -> list[Alert]:
    alerts: list[Alert] = []
    previous = ZERO_HASH
    for seq in range(1, count + 1):
        alerts.append(build_alert("jetson-01", seq, event(seq), previous, KEY))
        previous = alerts[-1].hash
    return alerts


def test_canonical_json_sorts_keys_without_whitespace_and_keeps_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1.5, None], "é": "ü"}) == '{"a":[1.5,null],"b":1,"é":"ü"}'.encode()


def test_canonical_json_rejects_nan() -> None:
    with pytest.raises(InvalidAlertError, match="canonical JSON"):
        canonical_json({"score": float("nan")})


def test_hash_and_signature_follow_the_contract() -> None:
    alert = chain(1)[0]
    fields = json.loads(encode_alert(alert))
    del fields["hash"], fields["sig"]
    expected_hash = hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert alert.hash == expected_hash
    assert alert.sig == hmac.new(KEY, expected_hash.encode(), hashlib.sha256).hexdigest()
    assert alert.prev_hash == ZERO_HASH
    assert fields["frame_ts"] == "2025-11-24T16:00:00.123456Z"
    assert fields["alert_id"] == "jetson-01:1"
    assert fields["model"] == {"name": "person-detector", "version": 2}


@pytest.mark.parametrize("box", [None, (0.0, 0.5, 1.0, 1.0)])
def test_encode_decode_round_trip_is_byte_identical(box: tuple[float, float, float, float] | None) -> None:
    alert = build_alert("jetson-01", 7, event(box=box), "a" * 64, KEY)
    payload = encode_alert(alert)
    decoded = decode_alert(payload)
    assert decoded == alert
    assert encode_alert(decoded) == payload


def test_timestamps_round_trip_to_the_microsecond() -> None:
    assert format_timestamp(parse_timestamp("2026-01-02T03:04:05.000001Z")) == "2026-01-02T03:04:05.000001Z"
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp("2026-01-02T03:04:05+00:00")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00.000000Z", "0999-12-31T23:59:59.500000Z"])
def test_a_year_before_1000_is_written_with_four_digits(text: str) -> None:
    # strftime's %Y wrote "1-01-01T...": a clock that wrong signed alerts the audit side refused.
    assert format_timestamp(parse_timestamp(text)) == text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda data: data.pop("seq"), "seq"),
        (lambda data: data.update(seq=0), "seq"),
        (lambda data: data.update(score=1.5), "score"),
        (lambda data: data.update(box=[0.1, 0.2]), "box"),
        (lambda data: data.update(frame_ts="yesterday"), "frame_ts"),
        (lambda data: data.update(frame_ts=data["frame_ts"] + "\n"), "frame_ts"),
        (lambda data: data.update(frame_ts="\u0662" + data["frame_ts"][1:]), "frame_ts"),
        (lambda data: data.update(score=10**400), "score"),
        (lambda data: data.update(box=[0, 0, 1, -(10**400)]), "box"),
        (lambda data: data.update(kind="middle"), "kind"),
        (lambda data: data.update(model={"name": "x"}), "model"),
        (lambda data: data.update(schema="v0"), "schema"),
        (lambda data: data.update(alert_id="other:1"), "alert_id"),
        (lambda data: data.update(extra=1), "extra"),
        (lambda data: data.update(sig="XYZ"), "sig"),
    ],
)
def test_decode_names_the_bad_field(change: object, field: str) -> None:
    data = json.loads(encode_alert(chain(1)[0]))
    change(data)  # type: ignore[operator]
    with pytest.raises(InvalidAlertError) as caught:
        decode_alert(json.dumps(data).encode())
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (b"\xff not json", "not UTF-8: byte 0 (0xff) is invalid start byte"),
        (b"not json", "not JSON: Expecting value (line 1, column 1)"),
        # (json's own: "Unexpected UTF-8 BOM (decode using utf-8-sig)", advice for a programmer)
        (b"\xef\xbb\xbf{}", "not JSON: it begins with a byte order mark (U+FEFF)"),
        # (said "not UTF-8 JSON: Exceeds the limit (4300 digits) for integer string conversion ...;
        # use sys.set_int_max_str_digits() to increase the limit")
        (b'{"seq": ' + b"9" * 5000 + b"}", "not JSON this side reads: a number of more than 4300 digits"),
    ],
)
def test_decode_rejects_what_is_not_json_saying_why(payload: bytes, said: str) -> None:
    with pytest.raises(InvalidAlertError) as caught:
        decode_alert(payload)
    assert str(caught.value) == said


def test_a_refused_value_is_written_as_json_escaped_and_cut_short() -> None:
    # (was Python's repr, uncut: "got True", "got {'a': 1}", and 70,000 characters of a long text, with
    # a bidirectional override in a device id stored raw in the audit's reason)
    data = alert_to_dict(chain(1)[0])
    for value, said in [
        (True, "zone: must be a non-empty string, got true"),
        ({"a": 1}, 'zone: must be a non-empty string, got {"a": 1}'),
        ("", 'zone: must be a non-empty string, got ""'),
    ]:
        with pytest.raises(InvalidAlertError) as caught:
            decode_alert(json.dumps({**data, "zone": value}).encode())
        assert str(caught.value) == said
    with pytest.raises(InvalidAlertError) as caught:
        decode_alert(json.dumps({**data, "kind": "x" * 70_000}).encode())
    assert (
        str(caught.value)
        == f'kind: must be start, update, end or instant, got "{"x" * 59}... (70002 characters)'
    )
    with pytest.raises(InvalidAlertError) as caught:
        decode_alert(json.dumps({**data, "device_id": "box\u202e"}, ensure_ascii=False).encode())
    assert str(caught.value) == f'alert_id: must be "box\\u202e:1", got "{data["alert_id"]}"'


def test_a_valid_chain_verifies() -> None:
    alerts = chain(3)
    previous = ZERO_HASH
    for alert in alerts:
        verify_alert(alert, KEY, previous)
        assert verify_payload(encode_alert(alert), KEY, previous) == alert
        previous = alert.hash


def test_edited_content_wrong_key_and_broken_chain_are_told_apart() -> None:
    first, second = chain(2)
    data = json.loads(encode_alert(second))
    data["score"] = 0.1
    with pytest.raises(AlertVerificationError) as caught:
        verify_payload(json.dumps(data).encode(), KEY, first.hash)
    assert caught.value.reason == "hash"
    with pytest.raises(AlertVerificationError) as caught:
        verify_alert(second, b"other key", first.hash)
    assert caught.value.reason == "signature"
    with pytest.raises(AlertVerificationError) as caught:
        verify_alert(second, KEY, ZERO_HASH)
    assert caught.value.reason == "chain"


def test_hash_ignores_hash_and_sig_fields() -> None:
    fields = {"a": 1}
    assert alert_hash(fields) == alert_hash({**fields, "hash": "x", "sig": "y"})


def test_build_alert_payload_matches_encode_alert() -> None:
    alert, payload = build_alert_payload("jetson-01", 3, event(), "b" * 64, KEY)
    assert payload == encode_alert(alert)
    assert alert == build_alert("jetson-01", 3, event(), "b" * 64, KEY)


# -- alert v2 and the v1 alerts of older devices ---------------------------------------------------


def v1_payload(seq: int, prev_hash: str) -> bytes:
    """An alert exactly as a v1 device wrote it: v1 fields only, hashed and signed."""
    fields = {
        "schema": "edge-gateway.alert.v1",
        "alert_id": f"jetson-01:{seq}",
        "device_id": "jetson-01",
        "seq": seq,
        "event_id": f"gate:intrusion:{seq}",
        "kind": "start",
        "camera_id": "gate",
        "rule": "intrusion",
        "label": "person",
        "score": 0.875,
        "zone": "yard",
        "box": [0.1, 0.2, 0.3, 0.4],
        "frame_ts": "2025-11-24T16:00:00.123456Z",
        "model": {"name": "person-detector", "version": 2},
        "prev_hash": prev_hash,
    }
    digest = hashlib.sha256(canonical_json(fields)).hexdigest()
    fields["hash"] = digest
    fields["sig"] = hmac.digest(KEY, digest.encode(), "sha256").hex()
    return canonical_json(fields)


def test_new_alerts_are_v2_with_every_new_field_present() -> None:
    payload = build_alert_payload("jetson-01", 1, event(), ZERO_HASH, KEY)[1]
    data = json.loads(payload)
    assert data["schema"] == "edge-gateway.alert.v2"
    assert {key: data[key] for key in ("track_id", "direction", "count", "evidence")} == {
        "track_id": None,
        "direction": None,
        "count": None,
        "evidence": None,
    }
    assert "end_reason" not in data  # logged on the device, not part of the contract


def test_v2_fields_round_trip_byte_identically() -> None:
    evidence = Evidence("a" * 64, 1234, "image/jpeg", 1280, 720)
    crossing = dataclasses.replace(
        event(), kind=AlertKind.INSTANT, track_id=12, direction=Direction.IN, count=None, evidence=evidence
    )
    ended = dataclasses.replace(event(), kind=AlertKind.END, count=4)
    for item in (crossing, ended):
        payload = build_alert_payload("jetson-01", 3, item, ZERO_HASH, KEY)[1]
        decoded = decode_alert(payload)
        assert decoded.event == item
        assert encode_alert(decoded) == payload
        verify_payload(payload, KEY, ZERO_HASH)


def test_a_device_that_upgrades_keeps_its_chain() -> None:
    # Given a chain of v1 alerts written by the old device...
    first = v1_payload(1, ZERO_HASH)
    second = v1_payload(2, decode_alert(first).hash)
    # ...the upgraded device continues it with v2 alerts.
    third = build_alert_payload("jetson-01", 3, event(3), decode_alert(second).hash, KEY)[1]
    previous = ZERO_HASH
    for payload in (first, second, third):
        alert = verify_payload(payload, KEY, previous)
        previous = alert.hash
    # A v1 alert decodes as v1 and re-encodes to its own bytes (replays stay byte-identical).
    assert decode_alert(first).event.schema_version == 1
    assert encode_alert(decode_alert(first)) == first
    assert json.loads(third)["schema"] == "edge-gateway.alert.v2"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "sideways"}, "kind"),
        ({"direction": "sideways"}, "direction"),
        ({"track_id": -1}, "track_id"),
        ({"count": True}, "count"),
        ({"end_reason": "stopped"}, "end_reason"),  # not a field of the contract
        ({"evidence": {"sha256": "a" * 64}}, "evidence"),
        (
            {"evidence": {"sha256": "A" * 64, "bytes": 1, "type": "image/jpeg", "width": 1, "height": 1}},
            "evidence",
        ),
        ({"schema": "edge-gateway.alert.v3"}, "schema"),
    ],
)
def test_malformed_v2_fields_are_named(change: dict[str, object], field: str) -> None:
    data = json.loads(build_alert_payload("jetson-01", 1, event(), ZERO_HASH, KEY)[1])
    data.update(change)
    with pytest.raises(InvalidAlertError) as caught:
        decode_alert(json.dumps(data).encode())
    assert caught.value.field == field


def test_a_v1_payload_with_a_v2_field_is_refused() -> None:
    data = json.loads(v1_payload(1, ZERO_HASH))
    data["track_id"] = 3
    with pytest.raises(InvalidAlertError, match="track_id: unknown field"):
        decode_alert(json.dumps(data).encode())


def test_instant_is_not_a_v1_kind() -> None:
    data = json.loads(v1_payload(1, ZERO_HASH))
    data["kind"] = "instant"
    with pytest.raises(InvalidAlertError, match="kind: must be start, update or end"):
        decode_alert(json.dumps(data).encode())


def test_a_repeated_name_is_refused_even_where_the_last_value_verifies() -> None:
    # Given a signed payload with a name repeated in front: json keeps the signed (last) value.
    payload = encode_alert(chain(1)[0])
    forged = b'{"model":{"name":"x","name":"y","version":1},"label":"forged",' + payload[1:]

    # Then decoding and verifying both refuse it, naming the first repeated name.
    with pytest.raises(InvalidAlertError, match=r"^name: repeated key"):
        decode_alert(forged)
    with pytest.raises(InvalidAlertError, match=r"^label: repeated key"):
        verify_payload(b'{"label":"forged",' + payload[1:], KEY)
