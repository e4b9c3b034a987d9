"""A device taken out of the keys file while copies of its stored messages are in flight.

The broker hands a stored alert and its image over again when an acknowledgement was lost in a
reconnect, and a device replays both byte for byte. Once its device was taken out of the keys file,
the alert's copy was answered a duplicate (as it was before the reload: its device did nothing
wrong), but the image's copy was rejected as from a device with no key and recorded, so the fleet
page counted a rejection against a device that had sent nothing wrong.
"""

from __future__ import annotations

import time

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, RejectReason
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))


def test_a_stored_image_sent_again_after_its_device_lost_its_key_is_a_duplicate(database_url: str) -> None:
    # Given alert 1 of a keyed device and its image, stored
    chain = AlertChain("box-retired", KEY)
    (payload,) = chain.extend(1, evidence=True)
    now = time.time()
    alert = ReceivedMessage(chain.topic, payload, now)
    image = ReceivedMessage(chain.image_topic(1), chain.images[1], now)
    store = AuditStore.open(database_url, {"box-retired": KEY, "box-other": bytes(32 * [7])})
    try:
        assert [result.outcome for result in store.ingest([alert, image])] == [Outcome.STORED] * 2

        # When the device is taken out of the keys file, and both arrive again
        store.replace_keys({"box-other": bytes(32 * [7])})
        results = store.ingest([alert, image])

        # Then both are copies, and nothing is recorded against the device
        assert [result.outcome for result in results] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
        assert store.rejected_counts() == {}

        # And an image the device never sent is still rejected as from a device with no key
        (other,) = store.ingest([ReceivedMessage(chain.image_topic(1), b"another image", now)])
        assert (other.outcome, other.reason) == (Outcome.REJECTED, RejectReason.UNKNOWN_DEVICE)
        assert store.rejected_counts() == {"box-retired": 1}
    finally:
        store.close()
