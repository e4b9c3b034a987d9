"""A device listed with hundreds of keys: an alert verifies under any of them, and checking one
decodes its payload once or twice, not once a key. Each key's check decoded and hashed the whole
payload again, so a forged message from such a device cost hundreds of decodes: a flood of them
took hundreds of times the audit's CPU that a device with one key did."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.audit.keys_file import verify_signed
from gateway.protocol.alert_json import parse_object
from gateway.protocol.alerts import ZERO_HASH, AlertVerificationError, build_alert, encode_alert
from tests.support.audit_device import event

KEYS = tuple(index.to_bytes(2, "big") * 16 for index in range(1, 301))
"""300 keys, the current one first."""
NOBODY = bytes(range(200, 232))


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The payloads decoded, in order."""
    seen: list[bytes] = []

    def counted(payload: bytes) -> Any:
        seen.append(payload)
        return parse_object(payload)

    # Where the alert decoder looks it up
    monkeypatch.setattr("gateway.protocol.alerts.parse_object", counted)
    return seen


@pytest.mark.parametrize("key", [KEYS[0], KEYS[150], KEYS[-1]], ids=["current", "middle", "oldest"])
def test_an_alert_verifies_under_any_of_hundreds_of_keys(key: bytes, decodes: list[bytes]) -> None:
    payload = encode_alert(build_alert("box-1", 1, event(1), ZERO_HASH, key))
    alert = verify_signed(payload, KEYS)
    assert (alert.device_id, alert.seq) == ("box-1", 1)
    assert len(decodes) <= 2


def test_a_forged_alert_is_refused_after_two_decodes_whatever_the_keys(decodes: list[bytes]) -> None:
    payload = encode_alert(build_alert("box-1", 1, event(1), ZERO_HASH, NOBODY))
    with pytest.raises(AlertVerificationError) as caught:
        verify_signed(payload, KEYS)
    assert caught.value.reason == "signature"
    assert str(caught.value) == "seq 1: signature does not verify"
    assert len(decodes) <= 2


def test_a_hash_that_does_not_match_is_refused_as_such_under_many_keys(decodes: list[bytes]) -> None:
    alert = build_alert("box-1", 1, event(1), ZERO_HASH, KEYS[-1])
    edited = encode_alert(alert).replace(b'"gate"', b'"door"')
    assert edited != encode_alert(alert)
    with pytest.raises(AlertVerificationError) as caught:
        verify_signed(edited, KEYS)
    assert caught.value.reason == "hash"
    assert len(decodes) == 1
