"""``audit verify`` on alerts stored in other bytes than their canonical JSON. The hash and the
signature cover the canonical JSON of an alert's fields, not the bytes received, and the subscriber
once stored the first copy as it came (whitespace, escapes, any key order): such a row verified
"ok" though its bytes are not what the device signed. Verify now names those seqs as a problem."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.audit.verify import verify_store
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))
DEVICE = "box-1"


def test_stored_bytes_that_are_not_the_canonical_json_are_a_problem(tmp_path: Path) -> None:
    # Given a store of three alerts, the second one's bytes rewritten with whitespace (the same
    # fields, so its hash and signature still verify), as an older subscriber would have kept them
    url = f"sqlite:///{tmp_path}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    chain.extend(3)
    store = AuditStore.open(url, {DEVICE: KEY})
    try:
        store.ingest([ReceivedMessage(chain.topic, payload, 1.0) for payload in chain.payloads])
    finally:
        store.close()
    spaced = json.dumps(json.loads(chain.payload(2)), sort_keys=True).encode()
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        connection.execute("UPDATE audit_alerts SET payload = ? WHERE seq = 2", (spaced,))

    # When it is verified, with the keys and without
    reader = AuditStore.open(url, {DEVICE: KEY}, create=False)
    try:
        reports = [verify_store(reader, {DEVICE: KEY}), verify_store(reader)]
    finally:
        reader.close()

    # Then seq 2 is named, and only it
    for report in reports:
        assert not report.ok
        (device,) = report.devices
        assert device.not_canonical == (2,)
        assert (device.bad_hashes, device.bad_signatures, device.chain_breaks) == ((), (), ())
        assert "stored bytes are not the signed canonical JSON at seq 2" in report.render()
