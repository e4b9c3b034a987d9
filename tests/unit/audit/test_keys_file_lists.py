"""A keys-file entry may list a device's keys, the current one first and older ones after, so that
alerts signed before a key rotation (a replay, a queue drained late) still verify: with one key per
device they were rejected as bad signatures. The single-key form stays valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.audit.keys_file import key_rings, load_keys, verify_signed
from gateway.errors import AuditError
from gateway.protocol.alerts import ZERO_HASH, AlertVerificationError, build_alert, encode_alert
from tests.support.audit_device import event

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
OTHER = bytes(range(200, 232))


def test_a_list_of_keys_loads_in_its_order_beside_single_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"box-1: [{NEW.hex()}, {OLD.hex()}]\nbox-2: {OLD.hex()}\nbox-3:\n  - {OTHER.hex()}\n")
    assert load_keys(path) == {"box-1": (NEW, OLD), "box-2": (OLD,), "box-3": (OTHER,)}
    json_path = tmp_path / "keys.json"
    json_path.write_text(json.dumps({"box-1": [NEW.hex(), OLD.hex()], "box-2": OLD.hex()}))
    assert load_keys(json_path) == {"box-1": (NEW, OLD), "box-2": (OLD,)}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("[]", 'device "box-1" has an empty list of keys'),
        (f"[{NEW.hex()}, not-hex-secret]", 'key 2 of device "box-1" is not hex'),
        (f"[{NEW.hex()}, abcd]", 'key 2 of device "box-1" is shorter than 16 bytes'),
        (f"[{NEW.hex()}, {OLD.hex()}, {NEW.hex().upper()}]", 'key 3 of device "box-1" repeats key 1'),
    ],
)
def test_a_bad_list_is_named_with_its_device_and_place_never_a_key(
    tmp_path: Path, entry: str, problem: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"box-1: {entry}\n")
    with pytest.raises(AuditError) as caught:
        load_keys(path)
    message = str(caught.value)
    assert problem in message
    assert all(key.hex() not in message.lower() for key in (NEW, OLD))
    assert "secret" not in message


def test_an_alert_verifies_under_any_of_its_device_s_keys() -> None:
    signed_before = encode_alert(build_alert("box-1", 1, event(1), ZERO_HASH, OLD))
    signed_after = encode_alert(build_alert("box-1", 2, event(2), ZERO_HASH, NEW))
    assert verify_signed(signed_before, (NEW, OLD)).seq == 1
    assert verify_signed(signed_after, (NEW, OLD)).seq == 2
    # A key no longer listed no longer verifies
    with pytest.raises(AlertVerificationError) as caught:
        verify_signed(signed_before, (NEW, OTHER))
    assert caught.value.reason == "signature"


def test_an_edited_alert_is_a_bad_hash_under_any_list() -> None:
    data = json.loads(encode_alert(build_alert("box-1", 1, event(1), ZERO_HASH, OLD)))
    data["label"] = "cat"
    with pytest.raises(AlertVerificationError) as caught:
        verify_signed(json.dumps(data).encode(), (NEW, OLD))
    assert caught.value.reason == "hash"


def test_key_rings_take_single_keys_and_lists() -> None:
    assert key_rings({"a": OLD, "b": [NEW, OLD], "c": []}) == {"a": (OLD,), "b": (NEW, OLD)}
