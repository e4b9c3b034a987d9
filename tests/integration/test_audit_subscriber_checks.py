"""What the audit subscriber makes of devices' messages, end to end: a real mosquitto, the subscriber
with its status connection, a store on SQLite and on a real PostgreSQL, and the fleet API over it.

- A device's clock is not its delivery. The lag (arrival minus alert time) is measured across two
  clocks: a device whose clock is five minutes slow was shown "behind" with every alert delivered at
  once, and one whose clock is fast never was. The clock offset is measured from the device's live
  ``online`` status and taken out: the slow and the fast clock are shown as clock skew, not as
  behind, and an alert that really took two minutes is shown behind.
- A status message from a device with no key is refused (``unknown_device``, counted and logged)
  and makes no fleet row, as its alerts would not.
- An alert whose bytes are not the canonical JSON its signature covers (whitespace, escapes, key
  order) is refused (``schema``); before, the first copy to arrive was stored as it came, so the
  stored bytes were not what the device signed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.protocol.alerts import ZERO_HASH, build_alert_payload, format_timestamp
from tests.support.audit_device import event, wait_until
from tests.support.audit_service import AuditService, audit_service
from tests.support.fleet_server import fleet_server

KEY = bytes(range(32))
SKEW_S = 300.0
LATE_S = 120.0
KEYS = dict.fromkeys(("box-slow", "box-fast", "box-late", "box-plain"), KEY)
WAIT_S = 20.0


@pytest.fixture
def audit(tmp_path: Path, database_url: str) -> Iterator[AuditService]:
    with audit_service(tmp_path, database_url, KEYS) as service:
        yield service


def online(device_id: str, clock_offset_s: float) -> bytes:
    """The status a device publishes on connecting, stamped by its own clock."""
    return json.dumps({"state": "online", "ts": format_timestamp(time.time() + clock_offset_s)}).encode()


def announce(audit: AuditService, device_id: str, clock_offset_s: float) -> None:
    """Publish the device's ``online`` until the fleet has measured its clock from a live copy (one
    sent before the status connection subscribed arrives as the broker's retained copy)."""

    def measured() -> bool:
        audit.publish(f"edge/{device_id}/status", online(device_id, clock_offset_s), retain=True)
        device = audit.store.devices(device_id)
        return bool(device) and device[0].clock_offset_s is not None

    wait_until(measured, WAIT_S, interval_s=0.5)


def publish_alert(audit: AuditService, device_id: str, alert_time: float) -> bytes:
    made = dataclasses.replace(event(1), frame_ts=round(alert_time, 6))
    _, payload = build_alert_payload(device_id, 1, made, ZERO_HASH, KEY)
    audit.publish(f"edge/{device_id}/alerts", payload)
    return payload


def stored(audit: AuditService, device_id: str, seq: int) -> bool:
    return audit.store.alert(device_id, seq) is not None


def test_a_device_clock_off_the_audits_is_clock_skew_and_a_late_alert_is_behind(audit: AuditService) -> None:
    # Given a device whose clock is 5 min slow, one whose clock is 5 min fast, each delivering at
    # once, and one with a right clock whose alert arrives 2 min after it was raised
    for device_id, offset in (("box-slow", -SKEW_S), ("box-fast", SKEW_S), ("box-late", 0.0)):
        announce(audit, device_id, offset)
    publish_alert(audit, "box-slow", time.time() - SKEW_S)
    publish_alert(audit, "box-fast", time.time() + SKEW_S)
    publish_alert(audit, "box-late", time.time() - LATE_S)
    wait_until(
        lambda: all(stored(audit, device, 1) for device in ("box-slow", "box-fast", "box-late")), WAIT_S
    )

    # Then the fleet tells delivery from clocks
    devices = audit.devices()
    slow, fast, late = devices["box-slow"], devices["box-fast"], devices["box-late"]
    assert slow["lag_s"] == pytest.approx(SKEW_S, abs=10)  # the lag is still arrival minus alert time
    assert slow["clock_offset_s"] == pytest.approx(-SKEW_S, abs=10)
    assert fast["clock_offset_s"] == pytest.approx(SKEW_S, abs=10)
    for device in (slow, fast):
        assert device["delivery_delay_s"] == pytest.approx(0.0, abs=10)
        assert not [problem for problem in device["problems"] if problem.startswith("behind")]
    assert [problem for problem in slow["problems"] if problem.startswith("clock skew")] == [
        "clock skew: its clock is 300 s behind the audit's, so its alert times are off by as much"
    ]
    assert any(problem.startswith("clock skew: its clock is 300 s ahead of") for problem in fast["problems"])
    assert late["delivery_delay_s"] == pytest.approx(LATE_S, abs=10)
    assert [problem for problem in late["problems"] if problem.startswith(("behind", "clock"))] == [
        "behind: its last alert took 120 s to arrive"
    ]
    with fleet_server(audit.url, KEYS, "token") as server:
        summary = json.loads(server.get("/v1/fleet").body)["summary"]
    assert (summary["behind"], summary["clock_skewed"]) == (1, 2)


def test_a_status_from_a_device_without_a_key_makes_no_fleet_row(
    audit: AuditService, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a status from a device the keys file does not name, then one from a device it does
    with caplog.at_level(logging.WARNING, logger="gateway.audit.store"):
        audit.publish("edge/box-stranger/status", online("box-stranger", 0.0), retain=True)
        audit.publish("edge/box-plain/status", online("box-plain", 0.0), retain=True)
        # One connection, in order: once the second is stored, the first has been handled
        wait_until(lambda: audit.devices()["box-plain"]["state"] == "online", WAIT_S)

    # Then the stranger is refused, counted and logged, and the fleet does not list it
    assert "box-stranger" not in audit.devices()
    assert "box-plain" in audit.devices()
    assert audit.sample("edge_gateway_audit_rejected_total", {"reason": "unknown_device"}) >= 1
    assert "rejected a status message from edge/box-stranger/status: no key for device" in caplog.text


def test_an_alert_in_other_bytes_than_its_canonical_json_is_refused(audit: AuditService) -> None:
    # Given a signed alert, first sent with whitespace, with an escaped letter and with its keys in
    # another order (each hashing and verifying the same), then as the device sends it
    made = dataclasses.replace(event(1), frame_ts=round(time.time(), 6))
    _, canonical = build_alert_payload("box-plain", 1, made, ZERO_HASH, KEY)
    fields = json.loads(canonical)
    variants = [
        json.dumps(fields, sort_keys=True).encode(),
        canonical.replace(b'"rule":"intrusion"', b'"rule":"\\u0069ntrusion"'),
        json.dumps(dict(reversed(list(fields.items()))), separators=(",", ":")).encode(),
    ]
    for variant in variants:
        audit.publish("edge/box-plain/alerts", variant)
    audit.publish("edge/box-plain/alerts", canonical)
    wait_until(lambda: stored(audit, "box-plain", 1), WAIT_S)

    # Then the variants are refused as not canonical and the stored bytes are the signed ones
    wait_until(lambda: audit.sample("edge_gateway_audit_rejected_total", {"reason": "schema"}) >= 3, WAIT_S)
    alert = audit.store.alert("box-plain", 1)
    assert alert is not None
    assert alert.payload == canonical
    reasons = [rejected.reason for rejected in audit.store.rejected()]
    assert len(reasons) == 3
    assert all(reason.startswith("schema: seq 1: not canonical JSON") for reason in reasons)


def test_a_fleet_row_an_older_release_made_from_a_status_alone_is_not_listed(database_url: str) -> None:
    # Given a store in which an older release made a row for a keyless device's status (written
    # here with a key for it, as the older release wrote it without asking for one)
    store = AuditStore.open(database_url, {"box-stranger": KEY})
    try:
        store.ingest([ReceivedMessage("edge/box-stranger/status", online("box-stranger", 0.0), time.time())])
    finally:
        store.close()

    # Then the fleet API, which knows the keys, lists only the devices with one
    with fleet_server(database_url, KEYS, "token") as server:
        answer = json.loads(server.get("/v1/devices").body)
        missing = server.get("/v1/devices/box-stranger").status
    assert sorted(device["device_id"] for device in answer["devices"]) == sorted(KEYS)
    assert answer["summary"]["devices"] == len(KEYS)
    assert missing == 404
