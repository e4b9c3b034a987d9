"""The publisher's own reads of the outbox that fail: a page damaged where only the publisher reads
(the evidence it sends) made it log once and retry, while ``/v1/status`` stayed healthy and nothing was
delivered. Now each failed read is told to the gateway's read failures, which name it in
``/v1/status`` and log it once; the publisher thread lives on and delivers as soon as reads succeed.
A real outbox file, a real mosquitto; the damage is a table gone from under the running outbox."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import DATABASE_NAME, Outbox
from gateway.domain import DeliveryState
from gateway.pipeline.outbox_read_failures import PUBLISHER_READS, OutboxReadFailures, ReadsOfKind
from tests.integration.delivery.publisher_process import DEVICE_ID, event
from tests.integration.delivery.test_replay_request_nesting import wait_until
from tests.support.alert_collector import AlertCollector
from tests.support.mosquitto import Mosquitto

KEY = bytes(range(32))
ALERTS = f"edge/{DEVICE_ID}/alerts"


@pytest.fixture
def collector(broker: Mosquitto) -> Iterator[AlertCollector]:
    subscriber = AlertCollector(broker.port, ALERTS)
    yield subscriber
    subscriber.close()


def rename_table(path: Path, old: str, new: str) -> None:
    with closing(sqlite3.connect(path)) as other:
        other.execute(f"ALTER TABLE {old} RENAME TO {new}")
        other.commit()


def test_a_read_only_the_publisher_makes_is_a_status_problem_and_delivery_resumes(
    tmp_path: Path, broker: Mosquitto, collector: AlertCollector, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path, DEVICE_ID, KEY)
    failures = OutboxReadFailures()
    config = MqttConfig.model_validate({"url": broker.url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5})
    publisher = MqttPublisher(
        config, DEVICE_ID, outbox, CollectorRegistry(), read_failures=ReadsOfKind(failures, PUBLISHER_READS)
    )
    publisher.start()
    try:
        outbox.append_many([event(0)])
        collector.wait_for(1)
        # Given the table of images gone from under the running publisher, which reads it at every
        # wake-up for the images to send (the HTTP API does not read it unless asked for one)
        with caplog.at_level(logging.ERROR):
            rename_table(tmp_path / DATABASE_NAME, "evidence", "evidence_aside")
            # When the publisher's reads fail, again and again (a wake-up every half second)
            wait_until(
                lambda: "2 reads failed" in (failures.problem() or ""), "the publisher's reads to fail twice"
            )
        # Then the gateway's read failures name the error, as /v1/status lists them
        problem = failures.problem()
        assert problem is not None
        assert "no such table: evidence" in problem, problem
        # And the log says it once, however many reads met it
        logged = [record for record in caplog.records if "no such table: evidence" in record.getMessage()]
        assert len(logged) == 1, [record.getMessage() for record in logged]
        # And the publisher thread lives on, still connected
        assert publisher.alive
        assert publisher.status().state is DeliveryState.CONNECTED

        # When the table is back, then the alerts committed after it are delivered
        rename_table(tmp_path / DATABASE_NAME, "evidence_aside", "evidence")
        outbox.append_many([event(number) for number in range(1, 4)])
        collector.wait_for(4)
        collector.assert_complete(4, KEY)
    finally:
        publisher.stop()
        outbox.close()
