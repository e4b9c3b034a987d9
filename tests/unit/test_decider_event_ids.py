"""Event ids stay unique when the wall clock steps back: ids are ``{camera}:{rule}:{track}{capture
ms}``, and after a step back a frame-level rule (count) can start an event on a capture time an
earlier event started on. The outbox and the audit side group alerts by event id, so the two events
would read as one. The real decider, tracker, rules and outbox; only the clock is set by hand."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, AlertKind
from gateway.rules.lifecycle import EventIds
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import TrackerSpec
from tests.unit.test_decider import wait_until
from tests.unit.test_decider_clock_step import BEFORE, KEY, PERSON, YARD, Clock, kinds, paired, result

CROWD = RuleSpec(
    "crowd",
    RuleType.COUNT,
    "detector",
    frozenset({"person"}),
    (YARD,),
    0.5,
    1,
    EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=1.0, max_event_s=300.0),
    min_count=1,
)
STEP_S = 10.0


def starts(alerts: list[Alert]) -> list[str]:
    return [alert.event.event_id for alert in alerts if alert.event.kind is AlertKind.START]


def test_an_event_started_on_a_capture_time_used_before_a_step_back_gets_an_id_of_its_own(
    tmp_path: Path,
) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = AlertDecider(
        outbox,
        [CameraRules("gate", (CROWD,))],
        announce=announced.append,
        registry=CollectorRegistry(),
        clock=clock,
        # A track missing on one frame is kept on it (and counted), and ends on the next
        trackers={"gate": TrackerSpec(confirm_hits=1, max_lost_s=0.5)},
        tick_s=600.0,  # only frames act: no tick restarts the camera a second time
    )
    try:
        decider.start()
        # Given a crowd event that started on the frame captured at BEFORE and ended
        decider.submit(result(BEFORE, PERSON))
        decider.submit(result(BEFORE + 1.0))
        decider.submit(result(BEFORE + 2.0))
        assert wait_until(lambda: len(announced) == 2), kinds(announced)
        # When the clock steps back STEP_S and, on the new clock, a crowd starts on a frame captured
        # at BEFORE again, then another once the clock is past every time used before
        clock.now = BEFORE - STEP_S + 0.1
        decider.submit(result(BEFORE - STEP_S))
        decider.submit(result(BEFORE, PERSON))
        decider.submit(result(BEFORE + 1.0))
        decider.submit(result(BEFORE + 2.0))
        decider.submit(result(BEFORE + 5.0, PERSON))
        assert wait_until(lambda: len(announced) == 5), kinds(announced)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    # Then every event has an id of its own: the plain form, with the step's mark on the one whose
    # capture time was used before
    ms = round(BEFORE * 1000)
    assert starts(announced) == [f"gate:crowd:{ms}", f"gate:crowd:{ms}~1", f"gate:crowd:{ms + 5000}"]
    assert paired(announced)
    reopened = Outbox(tmp_path, "jetson-01", KEY)
    try:
        assert reopened.open_events() == []
    finally:
        reopened.close()


def test_each_step_back_marks_the_reused_times_with_its_own_count() -> None:
    # Pure logic: the camera's ids through two steps back, each to before every time used so far
    ids = EventIds()
    assert ids.new("gate:crowd:", 100.0) == "gate:crowd:100000"
    ids.restart()
    assert ids.new("gate:crowd:", 90.0) == "gate:crowd:90000~1"
    assert ids.new("gate:crowd:", 100.0) == "gate:crowd:100000~1"
    ids.restart()
    assert ids.new("gate:crowd:", 100.0) == "gate:crowd:100000~2"
    assert ids.new("gate:crowd:", 100.001) == "gate:crowd:100001"
