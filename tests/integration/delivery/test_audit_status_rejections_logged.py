"""A status message the audit store rejects is not kept (it is not part of the audit log) but is
logged, whether its batch was stored whole or message by message. Before, only the message-by-message
path logged it: a device sending garbled statuses in ordinary batches went unnoticed."""

from __future__ import annotations

import logging
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


@pytest.mark.parametrize(
    "refused_by_the_database",
    [False, True],
    ids=["batch stored whole", "batch stored message by message"],
)
def test_a_rejected_status_message_is_logged(
    store: AuditStore, caplog: pytest.LogCaptureFixture, refused_by_the_database: bool
) -> None:
    chain = AlertChain(DEVICE, KEY)
    chain.extend(1)
    alert = chain.payload(1)
    if refused_by_the_database:
        # A lone surrogate no driver encodes, in the rejection row of an unknown device: the database
        # refuses the batch, which is then stored message by message.
        alert_message = ReceivedMessage("edge/\ud800/alerts", alert, 1.0)
    else:
        alert_message = ReceivedMessage(chain.topic, alert, 1.0)
    with caplog.at_level(logging.WARNING, logger="gateway.audit.store"):
        results = store.ingest(
            [ReceivedMessage(f"edge/{DEVICE}/status", b'{"state": []}', 1.0), alert_message]
        )
    assert (results[0].outcome, results[0].reason) == (Outcome.REJECTED, RejectReason.SCHEMA)
    assert ("storing each on its own" in caplog.text) is refused_by_the_database
    logged = [record.getMessage() for record in caplog.records if "status message" in record.getMessage()]
    assert logged == [f"audit: rejected a status message from edge/{DEVICE}/status: {results[0].detail}"]
