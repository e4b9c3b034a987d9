"""The audit host's clock stepped back (NTP correcting a clock that ran an hour fast) while devices
run: a real mosquitto, the subscriber with its status connection, a store on SQLite and on a real
PostgreSQL, and the fleet API over it; the audit's wall clock is shifted where it is read.

Status writes were ordered by their arrival time, and alert store times moved forward only: after
the step every message arrived "before" the one stored, so for as long as the step the fleet showed
the device online through its stop, its restart and its last will, its last store time and lag
stood still, and the clock offset measured by the fast clock stayed, a clock skew that was not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import status, store, subscriber
from gateway.protocol.alerts import format_timestamp
from tests.support.audit_device import AlertChain, wait_until
from tests.support.audit_service import AuditService, audit_service
from tests.support.shifted_clock import ShiftedClock, shift_wall_clock

KEY = bytes(range(32))
DEVICE = "box-a"
TOPIC = f"edge/{DEVICE}/status"
STEP_S = 3600.0
WAIT_S = 20.0
STATUS_COUNTER = "edge_gateway_audit_status_messages_total"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ShiftedClock:
    return shift_wall_clock(monkeypatch, status, store, subscriber)


@pytest.fixture
def audit(tmp_path: Path, database_url: str, clock: ShiftedClock) -> Iterator[AuditService]:
    with audit_service(tmp_path, database_url, {DEVICE: KEY}) as service:
        yield service


def status_payload(state: str, ts: float) -> bytes:
    return json.dumps({"state": state, "ts": format_timestamp(ts)}).encode()


def statuses_read(audit: AuditService) -> float:
    return sum(
        audit.sample(STATUS_COUNTER, {"outcome": outcome}) for outcome in ("stored", "duplicate", "rejected")
    )


def publish_status(audit: AuditService, state: str, ts: float) -> dict[str, Any]:
    """Publish as the device (or the broker, for its last will) and return the device as the fleet
    API shows it once the subscriber has read the message."""
    before = statuses_read(audit)
    audit.publish(TOPIC, status_payload(state, ts), retain=True)
    wait_until(lambda: statuses_read(audit) > before, WAIT_S)
    device: dict[str, Any] = audit.devices()[DEVICE]
    return device


def test_status_and_store_times_follow_the_broker_after_the_audit_clock_steps_back(
    audit: AuditService, clock: ShiftedClock
) -> None:
    # Given an audit clock an hour fast: the device's live "online" measured, one alert stored
    clock.offset = STEP_S
    connected_at = time.time()

    def online_measured() -> bool:
        audit.publish(TOPIC, status_payload("online", connected_at), retain=True)
        device = audit.store.devices(DEVICE)
        return bool(device) and device[0].clock_offset_s is not None

    wait_until(online_measured, WAIT_S, interval_s=0.5)
    chain = AlertChain(DEVICE, KEY)
    chain.extend(2)
    audit.publish(chain.topic, chain.payload(1))
    wait_until(lambda: audit.store.alert(DEVICE, 1) is not None, WAIT_S)
    fast = audit.devices()[DEVICE]
    assert fast["clock_offset_s"] == pytest.approx(-STEP_S, abs=5)

    # When NTP steps the audit's clock back, and the device stops, restarts and is killed
    clock.offset = 0.0
    stopped = publish_status(audit, "offline", time.time())
    restarted_at = time.time()
    restarted = publish_status(audit, "online", restarted_at)
    killed = publish_status(audit, "offline", restarted_at - 0.5)  # the will: its connection's time
    audit.publish(chain.topic, chain.payload(2))
    wait_until(lambda: audit.store.alert(DEVICE, 2) is not None, WAIT_S)
    after = audit.devices()[DEVICE]

    # Then the fleet follows each message in the broker's order, whatever the clock said before
    assert [stopped["state"], restarted["state"], killed["state"]] == ["offline", "online", "offline"]
    assert killed["state_ts"] == format_timestamp(restarted_at - 0.5)
    # the restart's live "online" measured the clock again: no skew remains
    assert restarted["clock_offset_s"] == pytest.approx(0.0, abs=5)
    assert not [problem for problem in after["problems"] if problem.startswith("clock skew")]
    # and the last store time and lag are those of the alert just stored, read by the clock as it is
    assert after["last_stored_at"] != fast["last_stored_at"]
    stored_at = audit.store.devices(DEVICE)[0].last_stored_at
    assert stored_at == pytest.approx(time.time(), abs=5)
    assert after["lag_s"] < fast["lag_s"] - STEP_S / 2
