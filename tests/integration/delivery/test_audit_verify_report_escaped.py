"""``audit verify`` printed each device id as it came. A device id is a topic level, which anyone who
may publish to the broker chooses (a rejected alert keeps its device in the store even without a
key; here a keys file names it, as a careless one may): a newline in the id printed a line of the
forger's choosing (here a device "plain" whose alerts check "ok"), a U+202E showed the rest of its
line reversed. Each id is now written escaped, one line per device, as the service's log lines
already were.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))
FORGED = "x\u202e\nplain: 3 alerts, seq 1..3, signatures checked: ok"


def test_device_ids_are_escaped_in_the_verify_report(tmp_path: Path) -> None:
    # Given a store with one good device and a status message from a keyed device whose id forges a line.
    url = f"sqlite:///{tmp_path}/audit.db"
    chain = AlertChain("box-1", KEY)
    chain.extend(2)
    store = AuditStore.open(url, {"box-1": KEY, FORGED: KEY})
    try:
        messages = [ReceivedMessage(chain.topic, payload, 1.0) for payload in chain.payloads]
        messages.append(ReceivedMessage(f"edge/{FORGED}/status", b'{"state": "online"}', 1.0))
        assert [result.outcome for result in store.ingest(messages)] == [Outcome.STORED] * 3
    finally:
        store.close()

    # When the store is verified by the real command.
    report = subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then each device is one line, the forged id shown with its escapes.
    lines = report.stdout.splitlines()
    assert lines[:2] == [
        "box-1: 2 alerts, seq 1..2, signatures NOT checked: ok",
        "x\\u202e\\nplain: 3 alerts, seq 1..3, signatures checked: ok: 0 alerts, no alerts, "
        "signatures NOT checked: ok",
    ]
    assert not any(line.startswith("plain") for line in lines)
