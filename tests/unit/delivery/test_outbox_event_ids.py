"""How far each camera's committed event and track ids reached (``outbox_event_ids``): kept with the
alerts, never pruned, migrated from the alerts of an older outbox."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from gateway.delivery import outbox_schema
from gateway.delivery.outbox_event_ids import IdsCommitted
from gateway.domain import AlertEvent
from tests.unit.delivery.test_outbox import Clock, event, open_outbox


def with_id(event_id: str, camera_id: str = "gate", track_id: int | None = None) -> AlertEvent:
    return dataclasses.replace(event(0, camera_id), event_id=event_id, track_id=track_id)


EARLIER = [
    with_id("gate:crowd:100000"),
    with_id("gate:intrusion:t7:90000~3", track_id=7),
    with_id("door:crowd:50000", "door"),
    with_id("an-id-of-another-form", "door"),
    with_id("yard:intrusion:track-form-unknown", "yard", track_id=12),
]
"""Alerts of three cameras: marks, a track, an id of another form (an older gateway's)."""
REACHED = {
    "gate": IdsCommitted(newest_ms=100_000, marks=3, newest_track=7),
    "door": IdsCommitted(newest_ms=50_000, marks=0, newest_track=0),
    "yard": IdsCommitted(newest_ms=-1, marks=0, newest_track=12),
}


def test_each_camera_s_ids_are_kept_as_they_are_committed(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    try:
        outbox.append_many(EARLIER[:2])
        outbox.append_many(EARLIER[2:])
        assert outbox.committed_event_ids() == REACHED
        # An older id does not lower what a camera reached
        outbox.append_many([with_id("gate:crowd:10", track_id=1)])
        assert outbox.committed_event_ids() == REACHED
    finally:
        outbox.close()


def test_an_outbox_of_an_older_gateway_is_migrated_from_its_alerts_past_a_damaged_row(tmp_path: Path) -> None:
    # Given an outbox as the previous version left it (user_version 2, no event_ids), with an alert
    # the disk damaged
    outbox = open_outbox(tmp_path)
    outbox.append_many([*EARLIER, with_id("gate:crowd:900000")])
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("DROP TABLE event_ids")
        db.execute("UPDATE alerts SET payload = ? WHERE seq = ?", (b"\x00damaged", len(EARLIER) + 1))
        db.execute("PRAGMA user_version = 2")
    db.close()
    # When this version opens it, then each camera's ids are read from the whole alerts
    migrated = open_outbox(tmp_path)
    try:
        assert migrated.committed_event_ids() == REACHED
    finally:
        migrated.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == outbox_schema.VERSION
    db.close()


def test_what_the_ids_reached_outlives_retention(tmp_path: Path) -> None:
    clock = Clock()
    outbox = open_outbox(tmp_path, clock, retention_s=60.0)
    try:
        outbox.append_many(EARLIER)
        outbox.mark_delivered(range(1, outbox.last_seq + 1))
        clock.now += 3600.0
        assert outbox.prune() == len(EARLIER)
        assert outbox.committed_event_ids() == REACHED
    finally:
        outbox.close()


def test_numbers_too_large_to_store_never_fail_a_commit(tmp_path: Path) -> None:
    # Given ids (a hand-edited rule, a damaged clock) whose numbers do not fit an SQLite integer
    outbox = open_outbox(tmp_path)
    try:
        alerts = outbox.append_many(
            [
                with_id("gate:crowd:100000~99999999999999999999"),
                with_id("gate:crowd:99999999999999999999999"),
                with_id("gate:intrusion:t1:5", track_id=2**64),
            ]
        )
        # Then the alerts are committed, and the numbers are passed over
        assert [alert.seq for alert in alerts] == [1, 2, 3]
        assert outbox.committed_event_ids() == {"gate": IdsCommitted(newest_ms=5, marks=0, newest_track=0)}
    finally:
        outbox.close()


def test_a_damaged_row_is_passed_over_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given an outbox whose row for the door was damaged (a text where a number belongs)
    outbox = open_outbox(tmp_path)
    outbox.append_many(EARLIER)
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("UPDATE event_ids SET marks = 'x' WHERE camera_id = 'door'")
    db.close()
    # When it is opened, then the other cameras' rows are read, and the damaged one is said
    reopened = open_outbox(tmp_path)
    try:
        assert reopened.committed_event_ids() == {key: REACHED[key] for key in ("gate", "yard")}
    finally:
        reopened.close()
    assert "the event ids committed for camera door are stored damaged" in caplog.text
