"""Event ids stay unique across a restart on a clock behind the previous run's (fake-hwclock after a
power loss restores the time it last saved): the camera's frames then carry capture times the
previous run's ids were made of, and a frame-level rule (count) would give an id again, so the
outbox and the audit side would read two events as one. The real decider, tracker, rules and outbox
(SQLite), reopened as a restart reopens it; only the clock is set by hand."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, AlertEvent, AlertKind, ModelRef
from gateway.rules.lifecycle import EarlierRuns
from gateway.rules.specs import CameraRules, RuleSpec
from gateway.tracking import TrackerSpec
from tests.unit.delivery.test_outbox import Clock as OutboxClock
from tests.unit.delivery.test_outbox import event as intrusion
from tests.unit.delivery.test_outbox import open_outbox
from tests.unit.test_decider_clock_step import BEFORE, INTRUSION, KEY, PERSON, Clock, kinds, paired, result
from tests.unit.test_decider_event_ids import CROWD, STEP_S, starts

MS = round(BEFORE * 1000)


def run(
    tmp_path: Path,
    clock: Clock,
    frames: list[tuple[float, bool]],
    step_back_at: int | None = None,
    rules: tuple[RuleSpec, ...] = (CROWD,),
) -> list[Alert]:
    """One run of the gateway's decider on the outbox in ``tmp_path``: ``frames`` (capture time,
    whether a person is in the yard), the clock stepping back ``STEP_S`` before frame
    ``step_back_at``; every event ends before the next frame but the last one."""
    announced: list[Alert] = []
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = AlertDecider(
        outbox,
        [CameraRules("gate", rules)],
        announce=announced.append,
        registry=CollectorRegistry(),
        clock=clock,
        trackers={"gate": TrackerSpec(confirm_hits=1, max_lost_s=0.5)},
        committed_ids=outbox.committed_event_ids,
        tick_s=600.0,  # only frames act
    )
    try:
        decider.start()
        for index, (at, person) in enumerate(frames):
            if index == step_back_at:
                clock.now = at + 0.1
            decider.submit(result(at, PERSON) if person else result(at))
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert paired(announced), kinds(announced)
    return announced


def test_a_restart_on_a_clock_behind_the_previous_run_gives_no_event_id_again(tmp_path: Path) -> None:
    # Given a run that gave the crowd rule's ids for BEFORE, BEFORE after a step back (~1), and
    # BEFORE + 5 s
    first = run(
        tmp_path,
        Clock(BEFORE),
        [
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
        ],
        step_back_at=3,
    )
    assert starts(first) == [f"gate:crowd:{MS}", f"gate:crowd:{MS}~1", f"gate:crowd:{MS + 5000}"]
    # When the gateway starts again on a clock set back to BEFORE (power lost, the saved time
    # restored) and crowds start on frames captured at BEFORE, BEFORE + 5 s and BEFORE + 8 s
    second = run(
        tmp_path,
        Clock(BEFORE),
        [
            (BEFORE, True),
            (BEFORE + 1.0, False),
            (BEFORE + 2.0, False),
            (BEFORE + 5.0, True),
            (BEFORE + 6.0, False),
            (BEFORE + 7.0, False),
            (BEFORE + 8.0, True),
        ],
    )
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


def event(event_id: str, camera_id: str = "gate") -> AlertEvent:
    return AlertEvent(
        event_id, AlertKind.START, camera_id, "crowd", "person", 0.9, None, None, 0.0, ModelRef("m", 1)
    )


def test_earlier_ids_are_kept_apart_per_camera_and_through_this_runs_own_marks() -> None:
    # Pure logic: what an earlier run committed, and ids this run's EventIds gave
    earlier = EarlierRuns(
        [
            ("gate", "gate:crowd:100000"),
            ("gate", "gate:crowd:t7:90000~3"),
            ("door", "door:crowd:50000"),
            ("door", "an-id-of-another-form"),
        ]
    )
    assert earlier.own(event("gate:crowd:100000")).event_id == "gate:crowd:100000~4"
    assert earlier.own(event("gate:crowd:100000~1")).event_id == "gate:crowd:100000~5"
    assert earlier.own(event("gate:crowd:100001")).event_id == "gate:crowd:100001"
    assert earlier.own(event("door:crowd:50000", "door")).event_id == "door:crowd:50000~1"
    assert earlier.own(event("yard:crowd:1", "yard")).event_id == "yard:crowd:1"


def test_the_ids_committed_are_read_once_each_past_a_row_the_disk_damaged(tmp_path: Path) -> None:
    # Given an outbox holding two events' alerts, one of them stored damaged
    outbox = open_outbox(tmp_path, OutboxClock())
    try:
        outbox.append_many([intrusion(0), intrusion(1), intrusion(1)])
        with sqlite3.connect(tmp_path / "outbox.db") as db:
            db.execute("UPDATE alerts SET payload = ? WHERE seq = 1", (b"\x00damaged",))
        db.close()
        # Then the ids read are those of the whole rows, once each: the damaged one cannot stop a start
        assert outbox.committed_event_ids() == [("gate", "gate:intrusion:1")]
    finally:
        outbox.close()
