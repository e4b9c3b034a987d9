"""A JSON object may repeat a name, and Python's json keeps the last value: the hash is computed over
what it kept, so a copy of a signed alert with a name repeated in front (``{"label": "forged", ...the
device's bytes...}``) verified, and the audit log stored bytes whose first ``label`` no signature
covers (any reader that keeps the first of repeated names sees the forged value). Canonical JSON never
repeats a name, so such a payload is now refused (``schema``) and the device's own bytes stay the
only copy stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, RejectReason
from tests.support.audit_device import AlertChain

DEVICE = "cam-box-1"
KEY = bytes(range(32))


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    opened = AuditStore.open(database_url, {DEVICE: KEY})
    yield opened
    opened.close()


def test_an_alert_with_a_repeated_name_is_rejected_and_the_signed_bytes_are_stored(store: AuditStore) -> None:
    # Given a device's signed alert, and a copy with "label" and "evidence" repeated in front of it.
    chain = AlertChain(DEVICE, KEY)
    chain.extend(1, evidence=True)
    signed = chain.payload(1)
    forged = b'{"label":"forged","evidence":null,' + signed[1:]

    # When the forged copy arrives first, then the device's own bytes.
    results = store.ingest([ReceivedMessage(chain.topic, forged, 1.0)])
    results += store.ingest([ReceivedMessage(chain.topic, signed, 2.0)])

    # Then the copy is rejected, naming the repeated name, and the stored payload is the signed one.
    assert [(result.outcome, result.reason) for result in results] == [
        (Outcome.REJECTED, RejectReason.SCHEMA),
        (Outcome.STORED, None),
    ]
    assert "evidence: repeated key" in results[0].detail
    assert [alert.payload for alert in store.alerts(DEVICE)] == [signed]
    assert [rejected.payload for rejected in store.rejected()] == [forged]
