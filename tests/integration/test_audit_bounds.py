"""What the audit store keeps that no device signed is bounded, through a real mosquitto and the
subscriber, on SQLite and on a real PostgreSQL.

- Evidence images that arrive before their alert are held until it comes. Anyone who can publish
  under a keyed device's topics could send images for alerts that never come, and every one was
  held: the store grew without a bound. Now the held images are bounded per device and in all, by
  count and by bytes; the oldest are dropped first, each logged and counted; an alert that comes
  after its image was dropped has it missing (and asks for it again).
- Rejected messages were all kept, payload and all: a flood of bad messages filled the database.
  Now the newest are kept, per device and in all; what is dropped is counted, and the fleet's and
  ``audit verify``'s rejected counts are still of every message rejected.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage, StoreBounds
from gateway.audit.verify import verify_store
from tests.integration.test_audit_schema_versions import execute_sql
from tests.support.audit_device import AlertChain
from tests.support.audit_service import AuditService, audit_service
from tests.support.fleet_server import fleet_server

KEY = bytes(range(32))
KEYS = {"box-a": KEY, "box-b": KEY}
BOUNDS = {"held_images_per_device": 3, "held_images": 5, "rejected_per_device": 3, "rejected": 5}


@pytest.fixture
def audit(tmp_path: Path, database_url: str) -> Iterator[AuditService]:
    # No replay requests while the test looks at what is missing
    with audit_service(tmp_path, database_url, KEYS, bounds=BOUNDS, replay_after_s=3600) as service:
        yield service


def held(audit: AuditService) -> set[tuple[str, int]]:
    rows = execute_sql(audit.url, "SELECT device_id, seq FROM audit_evidence WHERE verified = 0")
    return {(str(device_id), int(str(seq))) for device_id, seq in rows}


def test_images_held_before_their_alert_are_bounded_oldest_dropped_first(
    audit: AuditService, caplog: pytest.LogCaptureFixture
) -> None:
    chain_a, chain_b = AlertChain("box-a", KEY), AlertChain("box-b", KEY)
    chain_a.extend(13, evidence=True)  # images for starts 1, 4, 7, 10, 13
    chain_b.extend(7, evidence=True)  # 1, 4, 7
    with caplog.at_level(logging.WARNING, logger="gateway.audit.bounds"):
        # Given five images of box-a whose alerts have not come, one after the other
        for seq in sorted(chain_a.images):
            audit.publish(chain_a.image_topic(seq), chain_a.images[seq])
        audit.handled("edge_gateway_audit_evidence_total", {"outcome": "stored"}, 5)

        # Then the newest three are held (three per device), the two oldest dropped and counted
        assert held(audit) == {("box-a", 7), ("box-a", 10), ("box-a", 13)}
        assert audit.sample("edge_gateway_audit_evidence_dropped_total", {"bound": "device"}) == 2

        # When box-b's three come, the fleet would hold six of five: box-a's oldest goes
        for seq in sorted(chain_b.images):
            audit.publish(chain_b.image_topic(seq), chain_b.images[seq])
        audit.handled("edge_gateway_audit_evidence_total", {"outcome": "stored"}, 8)
    assert held(audit) == {("box-a", 10), ("box-a", 13), ("box-b", 1), ("box-b", 4), ("box-b", 7)}
    assert audit.sample("edge_gateway_audit_evidence_dropped_total", {"bound": "total"}) == 1
    dropped = [record for record in caplog.records if "dropped an image" in record.getMessage()]
    assert len(dropped) == 3
    assert "held for alert 1 of box-a" in dropped[0].getMessage()

    # And when box-a's alerts come, the images still held are theirs, the dropped ones missing
    for payload in chain_a.payloads:
        audit.publish(chain_a.topic, payload)
    audit.handled("edge_gateway_audit_messages_total", {"outcome": "stored"}, 13)
    with fleet_server(audit.url, KEYS, "token") as server:
        devices = {
            device["device_id"]: device for device in json.loads(server.get("/v1/devices").body)["devices"]
        }
    assert devices["box-a"]["evidence_missing"] == 3
    assert held(audit) == {("box-b", 1), ("box-b", 4), ("box-b", 7)}


def test_images_held_are_bounded_by_bytes_per_device_and_in_all(database_url: str) -> None:
    chain_a, chain_b = AlertChain("box-a", KEY), AlertChain("box-b", KEY)
    chain_a.extend(13, evidence=True)
    chain_b.extend(4, evidence=True)
    sizes = {seq: len(image) for seq, image in chain_a.images.items()}
    # Given room for box-a's two newest images per device, and for three of the sizes in all
    bounds = StoreBounds(
        held_bytes_per_device=sizes[10] + sizes[13],
        held_bytes=sizes[10] + sizes[13] + len(chain_b.images[1]) + len(chain_b.images[4]) - 1,
    )
    assert len(chain_b.images[1]) + len(chain_b.images[4]) <= bounds.held_bytes_per_device
    store = AuditStore.open(database_url, KEYS, bounds=bounds)
    try:
        # When box-a's five images come, then box-b's two, each before its alert
        for seq in sorted(chain_a.images):
            store.ingest([ReceivedMessage(chain_a.image_topic(seq), chain_a.images[seq], time.time())])
        held_a = execute_sql(database_url, "SELECT seq FROM audit_evidence WHERE verified = 0 ORDER BY seq")
        assert held_a == [(10,), (13,)]
        assert store.take_drops().held == {"device": 3}
        store.ingest(
            [ReceivedMessage(chain_b.image_topic(seq), chain_b.images[seq], time.time()) for seq in (1, 4)]
        )
    finally:
        store.close()

    # Then, a byte short of room for all four, box-a's oldest goes
    rows = execute_sql(
        database_url, "SELECT device_id, seq FROM audit_evidence WHERE verified = 0 ORDER BY 1, 2"
    )
    assert rows == [("box-a", 13), ("box-b", 1), ("box-b", 4)]


def test_rejected_messages_keep_the_newest_and_count_every_one(
    audit: AuditService, caplog: pytest.LogCaptureFixture
) -> None:
    # Given five messages that are not alerts on box-a's topic, then three on box-b's
    with caplog.at_level(logging.WARNING, logger="gateway.audit.bounds"):
        for number in range(5):
            audit.publish("edge/box-a/alerts", f"not an alert {number}".encode())
        audit.handled("edge_gateway_audit_rejected_total", {"reason": "schema"}, 5)
        for number in range(3):
            audit.publish("edge/box-b/alerts", f"not an alert {number}".encode())
        audit.handled("edge_gateway_audit_rejected_total", {"reason": "schema"}, 8)

    # Then the table holds five, the newest: three per device, box-a's oldest dropped for the total
    kept = execute_sql(audit.url, "SELECT device_id, payload FROM audit_rejected ORDER BY id")
    assert kept == [
        ("box-a", b"not an alert 3"),
        ("box-a", b"not an alert 4"),
        ("box-b", b"not an alert 0"),
        ("box-b", b"not an alert 1"),
        ("box-b", b"not an alert 2"),
    ]
    assert audit.sample("edge_gateway_audit_rejected_dropped_total") == 3
    # However the messages were batched: each drop logged, box-a's three in all
    logged = re.findall(r"dropped the (\d+) oldest rejected messages of (\S+):", caplog.text)
    assert sum(int(count) for count, device in logged if device == "box-a") == 3
    assert not [device for _, device in logged if device != "box-a"]

    # And the fleet and audit verify still count every message rejected
    with fleet_server(audit.url, KEYS, "token") as server:
        answer = json.loads(server.get("/v1/devices").body)
    devices = {device["device_id"]: device for device in answer["devices"]}
    assert (devices["box-a"]["rejected"], devices["box-b"]["rejected"]) == (5, 3)
    assert answer["summary"]["rejected"] == 8
    reader = AuditStore.open(audit.url, KEYS, create=False)
    try:
        report = verify_store(reader, KEYS)
    finally:
        reader.close()
    assert {device.device_id: device.rejected for device in report.devices} == {"box-a": 5, "box-b": 3}


def test_rejected_messages_are_bounded_by_bytes_per_device_and_in_all(database_url: str) -> None:
    # Given room for two and a half 1000-byte messages per device, and for three and a half in all
    bounds = StoreBounds(rejected_bytes_per_device=2500, rejected_bytes=3500)
    store = AuditStore.open(database_url, KEYS, bounds=bounds)
    try:
        # When box-a sends four messages that are not alerts, one by one, then box-b two
        for device_id, number in [
            ("box-a", 0),
            ("box-a", 1),
            ("box-a", 2),
            ("box-a", 3),
            ("box-b", 0),
            ("box-b", 1),
        ]:
            payload = f"{device_id} {number} ".encode().ljust(1000, b"x")
            store.ingest([ReceivedMessage(f"edge/{device_id}/alerts", payload, time.time())])
        # Then box-a's two newest were kept until box-b's made four in all: its oldest of them went
        kept = execute_sql(database_url, "SELECT device_id, payload FROM audit_rejected ORDER BY id")
        assert [(device, bytes(payload)[:8]) for device, payload in kept] == [  # type: ignore[call-overload]
            ("box-a", b"box-a 3 "),
            ("box-b", b"box-b 0 "),
            ("box-b", b"box-b 1 "),
        ]
        assert store.rejected_counts() == {"box-a": 4, "box-b": 2}
    finally:
        store.close()


def test_images_held_for_a_device_taken_out_of_the_keys_file_are_dropped(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Its alerts are rejected now, so no alert would ever claim them: they were held for ever."""
    chain_a, chain_b = AlertChain("box-a", KEY), AlertChain("box-b", KEY)
    chain_a.extend(4, evidence=True)  # images for starts 1 and 4
    chain_b.extend(1, evidence=True)
    store = AuditStore.open(database_url, KEYS)
    try:
        # Given images held for box-a and box-b
        store.ingest(
            [
                ReceivedMessage(chain_a.image_topic(seq), image, time.time())
                for seq, image in chain_a.images.items()
            ]
            + [ReceivedMessage(chain_b.image_topic(1), chain_b.images[1], time.time())]
        )
        # When box-a is taken out of the keys (a reload) and the store drops what it held for it
        store.replace_keys({"box-b": KEY})
        with caplog.at_level(logging.WARNING, logger="gateway.audit.bounds"):
            store.drop_unkeyed_held()
        # Then box-a's are gone, logged and handed out to be counted; box-b's stay
        assert store.take_drops().held == {"unkeyed": 2}
    finally:
        store.close()
    assert execute_sql(database_url, "SELECT device_id, seq FROM audit_evidence") == [("box-b", 1)]
    (record,) = [record for record in caplog.records if "box-a" in record.getMessage()]
    assert "dropped 2 images" in record.getMessage()
