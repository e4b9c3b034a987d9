"""Evidence and alert v2 in the audit store, on SQLite and on a real PostgreSQL server: images checked
against their signed alerts in either order, mismatches rejected, ``audit verify`` naming a missing
or edited image, v1 then v2 alerts of one device, and stores of the previous schema migrated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit import schema
from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, RejectReason
from gateway.audit.verify import verify_store
from gateway.cli import main
from tests.integration.delivery.test_audit_store import execute_sql
from tests.support.audit_device import AlertChain, jpeg

DEVICE = "cam-box-1"
KEY = bytes(range(32))
KEYS = {DEVICE: KEY}


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    opened = AuditStore.open(database_url, KEYS)
    yield opened
    opened.close()


@pytest.fixture
def chain() -> AlertChain:
    made = AlertChain(DEVICE, KEY)
    made.extend(9, evidence=True)  # starts at seq 1, 4 and 7 name images
    return made


def alerts(chain: AlertChain, *seqs: int) -> list[ReceivedMessage]:
    return [ReceivedMessage(chain.topic, chain.payload(seq), 1.0) for seq in seqs]


def image(chain: AlertChain, seq: int, data: bytes | None = None) -> ReceivedMessage:
    return ReceivedMessage(chain.image_topic(seq), chain.images[seq] if data is None else data, 2.0)


def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({DEVICE: KEY.hex()}))
    return path


def test_images_after_or_before_their_alerts_are_verified_and_stored_once(
    store: AuditStore, chain: AlertChain
) -> None:
    # Given the image of seq 1 after its alert, seq 4's before, and seq 7's in the same batch
    first = store.ingest([*alerts(chain, 1, 2, 3), image(chain, 1), image(chain, 4)])
    assert [(result.outcome, result.evidence) for result in first[-2:]] == [(Outcome.STORED, True)] * 2
    assert "held until alert 4 arrives" in first[-1].detail
    assert store.progress()[0].evidence_missing == 0
    store.ingest([image(chain, 7), *alerts(chain, 4, 5, 6, 7, 8, 9)])
    # And copies of them again (QoS 1 redelivery, replay)
    again = store.ingest([image(chain, 1), image(chain, 4), image(chain, 7)])

    assert [result.outcome for result in again] == [Outcome.DUPLICATE] * 3
    assert store.progress()[0].evidence_missing == 0
    assert store.rejected() == []
    for seq in (1, 4, 7):
        assert store.evidence_image(DEVICE, seq) == chain.images[seq]
    report = verify_store(store, KEYS)
    assert report.ok, report.render()
    assert report.devices[0].evidence_checked == 3


def test_an_image_that_is_not_the_one_its_alert_names_is_rejected_in_either_order(
    store: AuditStore, chain: AlertChain
) -> None:
    forged_image = jpeg(999)
    # After the alert: rejected at once
    (late,) = store.ingest([*alerts(chain, 1, 2, 3), image(chain, 1, forged_image)])[3:]
    assert (late.outcome, late.reason) == (Outcome.REJECTED, RejectReason.EVIDENCE)
    assert "is not the" in late.detail
    # Before the alert: held, then rejected when the alert says which image is genuine
    (held,) = store.ingest([image(chain, 4, forged_image)])
    assert held.outcome is Outcome.STORED
    store.ingest(alerts(chain, 4))
    # An image for an alert that names none
    (none,) = store.ingest([ReceivedMessage(chain.image_topic(2), forged_image, 3.0)])
    assert (none.outcome, none.reason) == (Outcome.REJECTED, RejectReason.EVIDENCE)

    rejected = store.rejected()
    assert [entry.seq for entry in rejected] == [1, 4, 2]
    assert all(entry.reason.startswith("evidence:") for entry in rejected)
    assert rejected[1].payload == forged_image
    assert store.evidence_image(DEVICE, 4) is None
    assert store.progress()[0].evidence_missing == 2
    # The genuine images are still accepted
    store.ingest([image(chain, 1), image(chain, 4)])
    assert store.progress()[0].evidence_missing == 0


def test_an_image_for_an_alert_that_names_none_is_rejected_in_either_order(
    store: AuditStore, chain: AlertChain, database_url: str
) -> None:
    stray = jpeg(998)
    # Before its alert (seq 2 names no image): held, then rejected once the alert is stored, as an
    # image arriving after it is; the held copy was once kept unverified for good.
    (held,) = store.ingest([ReceivedMessage(chain.image_topic(2), stray, 1.0)])
    assert held.outcome is Outcome.STORED
    store.ingest(alerts(chain, 1, 2, 3))
    (late,) = store.ingest([ReceivedMessage(chain.image_topic(3), stray, 3.0)])
    assert (late.outcome, late.reason, late.detail) == (
        Outcome.REJECTED,
        RejectReason.EVIDENCE,
        "alert 3 carries no evidence",
    )

    rejected = store.rejected()
    assert [(entry.seq, entry.reason, entry.payload) for entry in rejected] == [
        (2, "evidence: alert 2 carries no evidence", stray),
        (3, "evidence: alert 3 carries no evidence", stray),
    ]
    assert execute_sql(database_url, "SELECT seq FROM audit_evidence") == []


def test_verify_names_the_alert_whose_image_is_missing_or_was_edited(
    database_url: str,
    store: AuditStore,
    chain: AlertChain,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given every alert, the images of seq 1 and 4, none of seq 7
    store.ingest([*alerts(chain, *range(1, 10)), image(chain, 1), image(chain, 4)])
    assert store.progress()[0].evidence_missing == 1
    assert store.missing_ranges(DEVICE) == [(7, 7)]
    keys = keys_file(tmp_path)
    assert main(["audit", "verify", "--db", database_url, "--keys", str(keys)]) == 1
    assert "evidence missing for seq 7" in capsys.readouterr().out

    # When seq 7's image arrives, the store verifies
    store.ingest([image(chain, 7)])
    assert store.missing_ranges(DEVICE) == []
    assert main(["audit", "verify", "--db", database_url, "--keys", str(keys)]) == 0
    assert f"{DEVICE}: 9 alerts, seq 1..9, signatures checked: ok (3 evidence images checked)" in (
        capsys.readouterr().out
    )

    # When one byte of a stored image is changed behind the store's back
    edited = bytearray(chain.images[4])
    edited[len(edited) // 2] ^= 0x01
    execute_sql(database_url, "UPDATE audit_evidence SET data = ? WHERE seq = 4", (bytes(edited),))

    # Then verify exits 1 and names that alert
    assert main(["audit", "verify", "--db", database_url, "--keys", str(keys)]) == 1
    output = capsys.readouterr().out
    assert "evidence does not match its alert at seq 4" in output
    assert output.rstrip().endswith("PROBLEMS FOUND")


def test_a_device_that_upgrades_keeps_its_chain_v1_alerts_then_v2_alerts_verify(
    database_url: str, store: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a device that wrote alert v1, then (upgraded) alert v2 with evidence, one chain
    chain = AlertChain(DEVICE, KEY)
    chain.extend(6, schema_version=1)
    chain.extend(6, evidence=True)
    schemas = [json.loads(payload)["schema"] for payload in chain.payloads]
    assert schemas == ["edge-gateway.alert.v1"] * 6 + ["edge-gateway.alert.v2"] * 6
    assert json.loads(chain.payload(7))["prev_hash"] == json.loads(chain.payload(6))["hash"]

    results = store.ingest([*alerts(chain, *range(1, 13)), image(chain, 7), image(chain, 10)])

    assert [result.outcome for result in results] == [Outcome.STORED] * 14
    assert main(["audit", "verify", "--db", database_url, "--keys", str(keys_file(tmp_path))]) == 0
    assert f"{DEVICE}: 12 alerts, seq 1..12, signatures checked: ok (2 evidence images checked)" in (
        capsys.readouterr().out
    )


V1_TABLES = (
    """CREATE TABLE audit_alerts (device_id TEXT NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL, payload {blob} NOT NULL, received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device_id, seq))""",
    """CREATE TABLE audit_rejected (id {serial}, device_id TEXT, seq BIGINT, topic TEXT NOT NULL,
        payload {blob} NOT NULL, reason TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE audit_devices (device_id TEXT PRIMARY KEY, contiguous_seq BIGINT NOT NULL,
        max_seq BIGINT NOT NULL)""",
    "CREATE INDEX audit_rejected_device ON audit_rejected (device_id)",
)
"""The audit store's tables as the release before evidence created them."""


def test_a_store_of_the_previous_schema_is_migrated_in_place(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a store the previous release wrote: v1 alerts, then v2 alerts of the upgraded device
    # (one names an image), and no schema version
    sqlite = database_url.startswith("sqlite")
    blob, serial = (
        ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT") if sqlite else ("BYTEA", "BIGSERIAL PRIMARY KEY")
    )
    for statement in V1_TABLES:
        execute_sql(database_url, statement.format(blob=blob, serial=serial))
    chain = AlertChain(DEVICE, KEY)
    chain.extend(3, schema_version=1)
    chain.extend(3, evidence=True)
    for seq in range(1, 7):
        stored = json.loads(chain.payload(seq))
        execute_sql(
            database_url,
            "INSERT INTO audit_alerts (device_id, seq, hash, prev_hash, payload, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (DEVICE, seq, stored["hash"], stored["prev_hash"], chain.payload(seq), 1.0),
        )
    execute_sql(database_url, "INSERT INTO audit_devices VALUES (?, 6, 6)", (DEVICE,))

    # When this release opens it
    store = AuditStore.open(database_url, KEYS)
    try:
        # Then it is at the current version, the v2 start's image is known to be missing, and
        # the store goes on: the image and further alerts are accepted and the whole verifies
        assert execute_sql(database_url, "SELECT version FROM audit_schema") == [(schema.VERSION,)]
        assert store.progress()[0].evidence_missing == 1
        assert store.missing_ranges(DEVICE) == [(4, 4)]
        chain.extend(3, evidence=True)
        store.ingest([image(chain, 4), *alerts(chain, 7, 8, 9), image(chain, 7)])
        report = verify_store(store, KEYS)
        assert report.ok, report.render()
        assert (report.devices[0].alerts, report.devices[0].evidence_checked) == (9, 2)
    finally:
        store.close()
    # And opening it again changes nothing
    reopened = AuditStore.open(database_url, KEYS)
    try:
        assert verify_store(reopened, KEYS).ok
        assert (
            hashlib.sha256(reopened.evidence_image(DEVICE, 4) or b"").hexdigest()
            == json.loads(chain.payload(4))["evidence"]["sha256"]
        )
    finally:
        reopened.close()
