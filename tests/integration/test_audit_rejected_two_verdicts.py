"""The same bytes refused for two different reasons across a keys reload are two verdicts, each
recorded: first ``unknown_device`` (no key listed), then, after the device is added with a key that
does not verify them, ``signature``. The second row is what tells the operator that the key added is
not the device's; a copy refused again for the same reason stays a duplicate (docs/fleet.md)."""

from __future__ import annotations

import time

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, RejectReason
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))
WRONG_KEY = bytes(range(100, 132))


def test_a_message_refused_for_another_reason_after_a_reload_is_recorded_again(database_url: str) -> None:
    # Given an alert from a device the keys file does not list, rejected
    chain = AlertChain("box-new", KEY)
    message = ReceivedMessage(chain.topic, chain.extend(1)[0], time.time())
    store = AuditStore.open(database_url, {"box-other": KEY})
    try:
        (unknown,) = store.ingest([message])

        # When the device is added with a key that is not its own, and the alert is delivered
        # again, twice
        store.replace_keys({"box-other": KEY, "box-new": WRONG_KEY})
        again = store.ingest([message, message])

        # Then the second verdict is recorded once, beside the first, and both are counted
        assert (unknown.outcome, unknown.reason) == (Outcome.REJECTED, RejectReason.UNKNOWN_DEVICE)
        assert [(result.outcome, result.reason) for result in again] == [
            (Outcome.REJECTED, RejectReason.SIGNATURE),
            (Outcome.DUPLICATE, RejectReason.SIGNATURE),
        ]
        rows = store.rejected()
        assert [row.reason.split(":")[0] for row in rows] == ["unknown_device", "signature"]
        assert {row.payload for row in rows} == {message.payload}
        assert store.rejected_counts() == {"box-new": 2}
    finally:
        store.close()
