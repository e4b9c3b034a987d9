"""Evidence in the outbox: committed with its alert, sent and marked on its own, pruned first when
delivered and never when not, without breaking the chain; an outbox from before evidence migrates."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from pathlib import Path

from gateway.delivery import outbox_schema
from gateway.domain import AlertEvent, AlertKind, Evidence
from gateway.protocol.alerts import decode_alert
from tests.unit.delivery.test_outbox import Clock, assert_chain, event, kind_of, open_outbox


def image(number: int, size: int = 1000) -> bytes:
    return bytes([number % 256]) * size


def with_evidence(number: int, data: bytes, kind: AlertKind = AlertKind.START) -> AlertEvent:
    evidence = Evidence(hashlib.sha256(data).hexdigest(), len(data), "image/jpeg", 64, 48)
    return dataclasses.replace(event(number), kind=kind, evidence=evidence)


def test_images_are_committed_with_their_alerts_and_signed_by_them(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    try:
        end = kind_of(2, AlertKind.END, "gate:intrusion:0")
        alerts = outbox.append_many(
            [with_evidence(0, image(1)), end, with_evidence(3, image(3), AlertKind.INSTANT)],
            [image(1), None, image(3)],
        )
        assert [alert.seq for alert in alerts] == [1, 2, 3]
        # The digest is inside the signed payload; the bytes are stored as given.
        stored = outbox.replay(1, 3)
        assert decode_alert(stored[0].payload).event.evidence == alerts[0].event.evidence
        assert_chain([row.payload for row in stored])
        assert [(item.seq, item.data) for item in outbox.pending_evidence()] == [(1, image(1)), (3, image(3))]
        record = outbox.evidence(1)
        assert record is not None
        assert (record.data, record.pruned_at) == (image(1), None)
        assert outbox.evidence(2) is None
        assert outbox.stats().evidence_pending == 2
    finally:
        outbox.close()
    # Durable together: a new process finds both.
    reopened = open_outbox(tmp_path)
    try:
        assert [(item.seq, item.data) for item in reopened.replay_evidence(1, 3)] == [
            (1, image(1)),
            (3, image(3)),
        ]
    finally:
        reopened.close()


def test_an_image_that_does_not_match_its_alert_is_left_out_not_the_alert(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    try:
        # Given a caller's bug: the image is not the size its alert says, or is missing
        (short, absent) = outbox.append_many([with_evidence(0, image(1)), with_evidence(1, image(2))],
                                             [image(1)[:-1], None])  # fmt: skip
        # Then the alerts are committed without evidence, and no image is stored
        assert (short.event.evidence, absent.event.evidence) == (None, None)
        assert decode_alert(outbox.replay(1, 1)[0].payload).event.evidence is None
        assert outbox.pending_evidence() == []
    finally:
        outbox.close()


def test_images_are_delivered_and_marked_apart_from_their_alerts(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    try:
        outbox.append_many([with_evidence(n, image(n)) for n in range(3)], [image(n) for n in range(3)])
        outbox.mark_delivered([1, 2, 3], [2])
        assert outbox.pending() == []
        assert [item.seq for item in outbox.pending_evidence()] == [1, 3]
        assert [item.seq for item in outbox.pending_evidence(after_seq=1, limit=1)] == [3]
        outbox.mark_delivered([], [1, 3])
        assert outbox.stats().evidence_pending == 0
    finally:
        outbox.close()


def test_delivered_images_are_pruned_first_and_their_alerts_stay(tmp_path: Path) -> None:
    clock = Clock()
    outbox = open_outbox(tmp_path, clock)
    outbox.append_many([with_evidence(n, image(n, 3000)) for n in range(4)],
                       [image(n, 3000) for n in range(4)])  # fmt: skip
    # Given every alert delivered but only the first three images
    outbox.mark_delivered([1, 2, 3, 4], [1, 2, 3])
    payloads = sum(len(row.payload) for row in outbox.replay(1, 4))
    outbox.close()
    # When the limit leaves room for the payloads and two and a half images
    outbox = open_outbox(tmp_path, clock, max_bytes=payloads + 7500)
    try:
        assert outbox.prune() == 0
        # Then the oldest delivered images went, just enough of them; every alert stays
        assert [row.seq for row in outbox.replay(1, 4)] == [1, 2, 3, 4]
        assert [item.seq for item in outbox.replay_evidence(1, 4)] == [3, 4]
        pruned = outbox.evidence(1)
        assert pruned is not None
        assert (pruned.data, pruned.pruned_at) == (None, clock.now)
        # And the undelivered image stays however far over the limit the outbox is
        small = open_outbox(tmp_path / "small", clock, max_bytes=1)
        small.append_many([with_evidence(0, image(0))], [image(0)])
        small.mark_delivered([1])
        assert small.prune() == 0
        assert [item.seq for item in small.replay_evidence(1, 1)] == [1]
        assert [row.seq for row in small.replay(1, 1)] == [1]
        small.close()
    finally:
        outbox.close()


def test_age_retention_keeps_an_alert_whose_image_is_undelivered(tmp_path: Path) -> None:
    clock = Clock()
    outbox = open_outbox(tmp_path, clock, retention_s=100)
    try:
        outbox.append_many([with_evidence(n, image(n)) for n in range(3)], [image(n) for n in range(3)])
        outbox.mark_delivered([1, 2, 3], [1, 3])
        clock.now += 101
        assert outbox.prune() == 2
        assert [row.seq for row in outbox.replay(1, 3)] == [2]
        assert [item.seq for item in outbox.replay_evidence(1, 3)] == [2]
        assert outbox.evidence(1) is None
        # Then the chain continues past pruned alerts
        fourth = outbox.append_many([event(4)])[0]
        assert fourth.seq == 4
    finally:
        outbox.close()


def test_an_outbox_from_before_evidence_is_migrated_and_keeps_its_chain(tmp_path: Path) -> None:
    # Given an outbox written by the previous version: no evidence table, user_version 1
    outbox = open_outbox(tmp_path)
    old = outbox.append_many([event(0), event(1)])
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("DROP TABLE evidence")
        db.execute("PRAGMA user_version = 1")
    # When it is opened by this version
    migrated = open_outbox(tmp_path)
    try:
        third = migrated.append_many([with_evidence(2, image(2))], [image(2)])[0]
        assert (third.seq, third.prev_hash) == (3, old[-1].hash)
        assert [item.seq for item in migrated.pending_evidence()] == [3]
    finally:
        migrated.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == outbox_schema.VERSION
