"""What happens once an alert is durable (``AlertAnnouncer``) is told afterwards and never stops the
decider: the echo on standard output writes the alert's bytes as signed, whatever the stream's text
encoding, and a stream that fails is said once and left; an announcement that raises is logged and
the alerts after it are still announced. The real commit queue against the real outbox."""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.commit_queue import CommitQueue
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert
from gateway.pipeline.alert_announcer import AlertAnnouncer
from gateway.protocol.alerts import encode_alert
from tests.support.console_app import alerts
from tests.unit.test_commit_queue_refused import KEY, event


class FailingStream(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_the_echo_writes_the_signed_bytes_whatever_the_streams_encoding() -> None:
    # Given standard output encoded as ASCII (PYTHONIOENCODING=ascii) and a label that is not
    output = io.BytesIO()
    stream = io.TextIOWrapper(output, encoding="ascii")
    (alert,) = alerts("gate", "intrusion", "persönne", 1)[:1]
    AlertAnnouncer(CollectorRegistry(), stream)(alert)
    assert output.getvalue() == encode_alert(alert) + b"\n"


def test_a_failing_echo_is_said_once_and_left(caplog: pytest.LogCaptureFixture) -> None:
    announcer = AlertAnnouncer(CollectorRegistry(), FailingStream())
    with caplog.at_level(logging.ERROR, logger="gateway.pipeline.gateway"):
        for alert in alerts("gate", "intrusion", "person", 2):
            announcer(alert)
    assert [record.getMessage() for record in caplog.records] == [
        "alerts can no longer be echoed to standard output ([Errno 32] Broken pipe): the echo stops; "
        "alerts are still committed to the outbox and delivered"
    ]


def test_an_announcement_that_raises_does_not_stop_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    announced: list[Alert] = []

    def announce(alert: Alert) -> None:
        if alert.seq == 1:
            raise RuntimeError("a broken announcement")
        announced.append(alert)

    outbox = Outbox(tmp_path, "jetson-01", KEY)
    queue = CommitQueue(outbox, announce, threading.Event().set, CollectorRegistry(), timeout_s=1.0)
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.commit_queue"):
            queue.add([event(1)])
            queue.add([event(2)])
            queue.drain()
    finally:
        outbox.close()
    assert [alert.seq for alert in announced] == [2]
    assert [record.getMessage() for record in caplog.records] == [
        "announcing committed alert jetson-01:1 failed"
    ]
