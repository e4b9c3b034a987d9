"""The publisher against a mosquitto that refuses messages: an image over the broker's Maximum Packet
Size must not hold back the alerts behind it, and an ACL that denies the alerts topic must be said
in the log (once) rather than only as an endless string of lost connections."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.delivery.publisher_process import DEVICE_ID
from tests.integration.delivery.test_evidence_delivery import Device
from tests.integration.delivery.test_mqtt_delivery import wait_until
from tests.support.audit_device import jpeg
from tests.support.mosquitto import Mosquitto


def broker_with(directory: Path, *lines: str) -> Mosquitto:
    broker = Mosquitto(directory)
    config = broker.directory / "mosquitto.conf"
    config.write_text(config.read_text() + "".join(f"{line}\n" for line in lines))
    broker.start()
    return broker


LIMIT = 860
"""Bytes: room for an alert (its packet about 770), not for any image these tests send (over 890)."""


@pytest.fixture(params=["max_packet_size", "message_size_limit"])
def small_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mosquitto]:
    """max_packet_size is announced in CONNACK (v5); message_size_limit is not, and mosquitto 2.0
    answers a message over it with a PUBACK that paho cannot parse: only lost connections show it."""
    assert min(len(jpeg(number)) for number in range(1, 7)) > LIMIT
    broker = broker_with(tmp_path / "broker", f"{request.param} {LIMIT}")
    yield broker
    broker.close()


def test_an_image_the_broker_cannot_take_does_not_hold_back_later_alerts(
    tmp_path: Path, small_broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    device = Device(tmp_path / "state", small_broker.url)
    try:
        # When starts with images (too large for the broker) and their ends are committed
        device.append(3)
        # Then every alert is delivered
        wait_until(lambda: device.outbox.stats().pending == 0, timeout_s=30, what="every alert delivered")
        # And every image stays in the outbox, undelivered (so retention keeps it), each said and counted
        wait_until(
            lambda: device.registry.get_sample_value("edge_gateway_mqtt_evidence_undeliverable_total") == 3,
            timeout_s=30,
            what="every image given up",
        )
        assert device.outbox.stats().evidence_pending == 3

        def said_of_each() -> bool:
            said = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
            return all(
                any(f"evidence image of alert seq {seq} not delivered" in line for line in said)
                for seq in (1, 3, 5)
            )

        # Each is counted, then said, on the publisher's thread
        wait_until(said_of_each, timeout_s=30, what="each image said undelivered")
    finally:
        device.close()


def test_alerts_denied_by_the_acl_are_logged_once_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acl = tmp_path / "acl"
    acl.write_text(f"topic readwrite edge/{DEVICE_ID}/status\ntopic read edge/{DEVICE_ID}/replay\n")
    broker = broker_with(tmp_path / "broker", f"acl_file {acl}")
    device = Device(tmp_path / "state", broker.url)
    try:
        device.append(1)
        refused = "edge_gateway_mqtt_alerts_refused_total"
        wait_until(
            lambda: (device.registry.get_sample_value(refused) or 0) >= 4, timeout_s=8, what="refusals"
        )
        said = [
            record.getMessage()
            for record in caplog.records
            if record.levelno == logging.ERROR and "broker refused alert" in record.getMessage()
        ]
        assert len(said) == 1, said
        assert "Not authorized" in said[0]
        assert "check the broker's ACL" in said[0]
        assert device.outbox.stats().pending == 2
    finally:
        device.close()
        broker.close()
