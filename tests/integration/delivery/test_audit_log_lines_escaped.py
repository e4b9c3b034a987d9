"""What a device sends reaches the audit service's log escaped: an MQTT topic may hold a newline or a
bidirectional override (MQTT forbids only NUL), and a rejection's reason repeats the payload's own
text. Before, the log's escaping made such text ASCII for the database and left the control
characters in, so a device could write a line that looked like the service's own."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain

DEVICE = "cam-box-1"
KEY = bytes(range(32))
FORGED = "\n2026-01-01 00:00:00,000 INFO gateway.audit: all devices verified \u202e"


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    opened = AuditStore.open(database_url, {DEVICE: KEY})
    yield opened
    opened.close()


def _one_line_each(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [record.getMessage() for record in caplog.records]
    assert messages
    for message in messages:
        assert "\n" not in message, message
        assert "\u202e" not in message, message
    return messages


def test_a_rejected_alerts_topic_is_logged_on_one_line(
    store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    chain = AlertChain(DEVICE, KEY)
    chain.extend(1)
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        store.ingest([ReceivedMessage(f"edge/unknown{FORGED}/alerts", chain.payload(1), 1.0)])
    messages = _one_line_each(caplog)
    assert any("\\n2026-01-01" in message and "\\u202e" in message for message in messages)


def test_a_rejected_status_with_the_devices_text_is_logged_on_one_line(
    store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    payload = ('{"state": [], "' + FORGED.replace("\n", "\\n") + '": 1}').encode()
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        store.ingest([ReceivedMessage(f"edge/{DEVICE}{FORGED}/status", payload, 1.0)])
    _one_line_each(caplog)
