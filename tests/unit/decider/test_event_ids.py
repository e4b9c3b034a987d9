"""Event ids stay unique when the wall clock steps back: ids are ``{camera}:{rule}:{track}{capture
ms}``, and after a step back a frame-level rule (count) can start an event on a capture time an
earlier event started on. The outbox and the audit side group alerts by event id, so the two events
would read as one. The real decider, tracker, rules and outbox; only the clock is set by hand."""

from __future__ import annotations

from pathlib import Path

from gateway.delivery.outbox import Outbox
from gateway.rules.event_ids import EventIds
from tests.unit.decider.runs import BEFORE, KEY, MS, STEP_S, Clock, run, starts


def test_an_event_started_on_a_capture_time_used_before_a_step_back_gets_an_id_of_its_own(
    tmp_path: Path,
) -> None:
    # Given a crowd event that started on the frame captured at BEFORE and ended; when the clock
    # steps back STEP_S and, on the new clock, a crowd starts on a frame captured at BEFORE again,
    # then another once the clock is past every time used before
    announced = run(
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
        ],
        step_back_at=3,
    )
    # Then every event has an id of its own: the plain form, with the step's mark on the one whose
    # capture time was used before
    assert starts(announced) == [f"gate:crowd:{MS}", f"gate:crowd:{MS}~1", f"gate:crowd:{MS + 5000}"]
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
