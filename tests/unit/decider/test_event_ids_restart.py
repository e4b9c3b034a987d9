"""Event ids stay unique across a restart on a clock behind the previous run's (fake-hwclock after a
power loss restores the time it last saved): the camera's frames then carry capture times the
previous run's ids were made of, and a frame-level rule (count) would give an id again, so the
outbox and the audit side would read two events as one. The rules' ids (and the tracker's first
track id) continue from what the outbox says earlier runs committed; no id is renamed after the
rule made it. The real decider, tracker, rules and outbox (SQLite), reopened as a restart reopens
it; only the clock is set by hand."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.delivery.outbox import Outbox
from gateway.delivery.outbox_event_ids import IdsCommitted
from gateway.rules.event_ids import EventIds
from tests.unit.decider.runs import BEFORE, KEY, MS, STEP_S, Clock, Shown, run, starts
from tests.unit.test_decider_clock_step import INTRUSION

STEPPED_BACK_RUN = [
    (BEFORE, True),
    (BEFORE + 1.0, False),
    (BEFORE + 2.0, False),
    (BEFORE - STEP_S, False),
    (BEFORE, True),
    (BEFORE + 1.0, False),
    (BEFORE + 2.0, False),
    (BEFORE + 5.0, True),
    (BEFORE + 6.0, False),
    (BEFORE + 7.0, False),
]
"""Crowds start at BEFORE, at BEFORE again after a step back (~1), and at BEFORE + 5 s."""
RESTARTED_RUN = [
    (BEFORE, True),
    (BEFORE + 1.0, False),
    (BEFORE + 2.0, False),
    (BEFORE + 5.0, True),
    (BEFORE + 6.0, False),
    (BEFORE + 7.0, False),
    (BEFORE + 8.0, True),
]
"""On a clock set back to BEFORE: crowds start at BEFORE, BEFORE + 5 s and BEFORE + 8 s."""


def test_a_restart_on_a_clock_behind_the_previous_run_gives_no_event_id_again(tmp_path: Path) -> None:
    # Given a run that gave the crowd rule's ids for BEFORE, BEFORE after a step back (~1), and
    # BEFORE + 5 s
    first = run(tmp_path, Clock(BEFORE), STEPPED_BACK_RUN, step_back_at=3)
    assert starts(first) == [f"gate:crowd:{MS}", f"gate:crowd:{MS}~1", f"gate:crowd:{MS + 5000}"]
    # When the gateway starts again on a clock set back to BEFORE (power lost, the saved time
    # restored) and crowds start on frames captured at BEFORE, BEFORE + 5 s and BEFORE + 8 s
    second = run(tmp_path, Clock(BEFORE), RESTARTED_RUN)
    # Then the ids whose capture times the earlier run used carry a mark past its marks, the one
    # past every time it used keeps the plain form, and each event's alerts share their id
    assert starts(second) == [f"gate:crowd:{MS}~2", f"gate:crowd:{MS + 5000}~2", f"gate:crowd:{MS + 8000}"]
    assert not {alert.event.event_id for alert in second} & {alert.event.event_id for alert in first}
    reopened = Outbox(tmp_path, "jetson-01", KEY)
    try:
        assert reopened.open_events() == []
    finally:
        reopened.close()


def test_track_ids_continue_past_the_previous_runs_after_a_restart_on_a_clock_behind(
    tmp_path: Path,
) -> None:
    # Given a run whose tracker started on a clock at BEFORE and gave a person a track id
    frames = [(BEFORE, True), (BEFORE + 1.0, True), (BEFORE + 10.0, False)]
    first = run(tmp_path, Clock(BEFORE), frames, rules=(INTRUSION,))
    # When the gateway starts again on a clock set back to BEFORE and a person comes
    second = run(tmp_path, Clock(BEFORE), frames, rules=(INTRUSION,))
    # Then the person gets a track id the earlier run never gave, and an event id of its own
    first_tracks = [alert.event.track_id or 0 for alert in first]
    second_tracks = [alert.event.track_id or 0 for alert in second]
    assert 0 not in first_tracks + second_tracks
    assert min(second_tracks) > max(first_tracks)
    assert not {alert.event.event_id for alert in second} & {alert.event.event_id for alert in first}


def test_ids_continue_past_the_earlier_marks_per_camera_and_through_this_runs_own() -> None:
    # Pure logic: a camera whose earlier ids reached 100 s with the mark ~3
    ids = EventIds()
    ids.continue_from(IdsCommitted(newest_ms=100_000, marks=3, newest_track=7))
    # Then capture times up to 100 s get the mark ~4, later ones the plain form, and a step back in
    # this run marks past both
    assert ids.new("gate:crowd:", 100.0) == "gate:crowd:100000~4"
    assert ids.new("gate:crowd:", 90.0) == "gate:crowd:90000~4"
    assert ids.new("gate:crowd:", 100.001) == "gate:crowd:100001"
    ids.restart()
    assert ids.new("gate:crowd:", 100.0) == "gate:crowd:100000~5"
    assert ids.new("gate:crowd:", 100.002) == "gate:crowd:100002"


def delivered_and_pruned(tmp_path: Path) -> None:
    """Every alert in the outbox delivered, then pruned by retention: nothing of them is left."""
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    try:
        outbox.mark_delivered(range(1, outbox.last_seq + 1))
        outbox.prune(now=BEFORE + 10 * 365 * 24 * 3600.0)
        assert outbox.stats().stored == 0
    finally:
        outbox.close()


def test_a_restart_on_a_clock_behind_after_retention_pruned_every_alert_gives_no_id_again(
    tmp_path: Path,
) -> None:
    # Given a run that gave crowd ids for BEFORE, BEFORE~1 and BEFORE + 5 s, whose alerts were all
    # delivered and then pruned by retention
    first = run(tmp_path, Clock(BEFORE), STEPPED_BACK_RUN, step_back_at=3)
    delivered_and_pruned(tmp_path)
    # When the gateway starts again on a clock set back to BEFORE and crowds start as before
    second = run(tmp_path, Clock(BEFORE), RESTARTED_RUN)
    # Then the ids are the same as with the alerts kept: none of the earlier run's again
    assert starts(second) == [f"gate:crowd:{MS}~2", f"gate:crowd:{MS + 5000}~2", f"gate:crowd:{MS + 8000}"]
    assert not {alert.event.event_id for alert in second} & {alert.event.event_id for alert in first}


def test_track_ids_continue_past_the_previous_runs_after_retention_pruned_every_alert(
    tmp_path: Path,
) -> None:
    # Given a run whose tracker gave a person a track id, its alerts delivered and pruned
    frames = [(BEFORE, True), (BEFORE + 1.0, True), (BEFORE + 10.0, False)]
    first = run(tmp_path, Clock(BEFORE), frames, rules=(INTRUSION,))
    delivered_and_pruned(tmp_path)
    # When the gateway starts again on a clock set back to BEFORE and a person comes
    second = run(tmp_path, Clock(BEFORE), frames, rules=(INTRUSION,))
    # Then the person's track id and event id are new
    assert min(alert.event.track_id or 0 for alert in second) > max(
        alert.event.track_id or 0 for alert in first
    )
    assert not {alert.event.event_id for alert in second} & {alert.event.event_id for alert in first}


def test_a_restart_on_an_outbox_of_an_older_gateway_gives_no_id_again(tmp_path: Path) -> None:
    # Given a run whose outbox is then as an older gateway left it: schema version 2, no seed table
    first = run(tmp_path, Clock(BEFORE), STEPPED_BACK_RUN, step_back_at=3)
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("DROP TABLE event_ids")
        db.execute("PRAGMA user_version = 2")
    db.close()
    # When this gateway starts on it, on a clock set back to BEFORE, and crowds start as before
    second = run(tmp_path, Clock(BEFORE), RESTARTED_RUN)
    # Then the ids continue past those the older gateway's alerts hold
    assert starts(second) == [f"gate:crowd:{MS}~2", f"gate:crowd:{MS + 5000}~2", f"gate:crowd:{MS + 8000}"]
    assert not {alert.event.event_id for alert in second} & {alert.event.event_id for alert in first}


def test_each_camera_continues_from_its_own_ids(tmp_path: Path) -> None:
    # Given a run where the gate's crowds reached BEFORE + 5 s (and a step back, ~1) and the door's
    # only BEFORE
    first = run(
        tmp_path,
        Clock(BEFORE),
        [*STEPPED_BACK_RUN, Shown(BEFORE, True, "door"), Shown(BEFORE + 1.0, False, "door")],
        step_back_at=3,
        cameras=("gate", "door"),
    )
    # When the gateway starts again on a clock set back to BEFORE and both see crowds
    second = run(
        tmp_path,
        Clock(BEFORE),
        [
            *RESTARTED_RUN,
            Shown(BEFORE, True, "door"),
            Shown(BEFORE + 1.0, False, "door"),
            Shown(BEFORE + 2.0, False, "door"),
            Shown(BEFORE + 5.0, True, "door"),
        ],
        cameras=("gate", "door"),
    )
    # Then each camera's ids are marked past its own earlier ones only
    assert starts(second) == [
        f"gate:crowd:{MS}~2",
        f"gate:crowd:{MS + 5000}~2",
        f"gate:crowd:{MS + 8000}",
        f"door:crowd:{MS}~1",
        f"door:crowd:{MS + 5000}",
    ]
    assert not {alert.event.event_id for alert in second} & {alert.event.event_id for alert in first}
