"""A gateway whose wall clock NTP steps after it connected (booted an hour fast): its publisher
against a real mosquitto, read by the audit subscriber with its status connection and a store on
SQLite; the gateway's wall clock is shifted where its delivery reads it.

The audit measures a device's clock offset from the ``ts`` of its live ``online`` status, which was
sent once per connection: after the step the offset stayed an hour off until the next reconnect,
so every alert showed an hour's delivery delay and the fleet a clock skew that was gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery import mqtt
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.protocol import mqtt_link
from tests.integration.delivery.publisher_process import DEVICE_ID
from tests.support.audit_device import wait_until
from tests.support.audit_service import AuditService, audit_service
from tests.support.shifted_clock import ShiftedClock, shift_wall_clock

STEP_S = 3600.0
WAIT_S = 20.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ShiftedClock:
    return shift_wall_clock(monkeypatch, mqtt, mqtt_link)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditService]:
    key = load_or_create_key(tmp_path / "state")
    with audit_service(tmp_path, f"sqlite:///{tmp_path}/audit.db", {DEVICE_ID: key}) as service:
        # The status connection reads the device's first "online" live only once subscribed: a
        # status of a device with no key, refused, says it is.
        def status_read() -> bool:
            service.publish("edge/probe/status", json.dumps({"state": "online"}).encode())
            return service.sample("edge_gateway_audit_status_messages_total", {"outcome": "rejected"}) > 0

        wait_until(status_read, WAIT_S, interval_s=0.2)
        yield service


def clock_offset(audit: AuditService) -> float | None:
    device = audit.store.devices(DEVICE_ID)
    return device[0].clock_offset_s if device else None


def test_a_clock_stepped_after_connecting_is_measured_again(
    tmp_path: Path, audit: AuditService, clock: ShiftedClock
) -> None:
    # Given a gateway connected with its clock an hour fast, the audit having measured it
    clock.offset = STEP_S
    outbox = Outbox(tmp_path / "state", DEVICE_ID, load_or_create_key(tmp_path / "state"))
    config = MqttConfig.model_validate(
        {"url": audit.broker_url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    )
    publisher = MqttPublisher(config, DEVICE_ID, outbox, CollectorRegistry())
    publisher.start()
    try:
        wait_until(lambda: (clock_offset(audit) or 0.0) > STEP_S - 5, WAIT_S)

        # When NTP steps its clock back while it stays connected
        clock.offset = 0.0

        # Then it announces itself again, and the audit measures the clock as it now is
        wait_until(lambda: abs(clock_offset(audit) or STEP_S) < 5, WAIT_S)
        device = audit.devices()[DEVICE_ID]
        assert device["state"] == "online"
        assert not [problem for problem in device["problems"] if problem.startswith("clock skew")]
    finally:
        publisher.stop()
        outbox.close()
