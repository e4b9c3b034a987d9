"""Two results of one camera and model with the same capture time (a clock that did not move between
two frames): the second was judged as a new moment, so an event a tick had ended at that moment
started again with the id of the one that ended, and the outbox and the audit side, which group
alerts by event id, made the two events one. The second is now dropped as late. The real decider,
rules and outbox; the clock set by hand."""

from __future__ import annotations

from pathlib import Path

from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, AlertKind, FrameResult
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from tests.unit.test_decider import wait_until
from tests.unit.test_decider_clock_step import BEFORE, DETECTOR, KEY, PERSON, YARD, Clock, decider_for, result

AT_ONCE = EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=0.0, max_event_s=300.0)
CROWD = RuleSpec(
    "crowd", RuleType.COUNT, "detector", frozenset({"person"}), (YARD,), 0.5, 1, AT_ONCE, min_count=1
)


def test_a_second_result_of_a_judged_capture_time_starts_no_event(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(outbox, clock, announced, [CameraRules("gate", (CROWD,))])
    try:
        decider.start()
        # Given a count event started on a frame and ended by a tick at that frame's moment
        decider.submit(result(BEFORE, PERSON))
        assert wait_until(lambda: len(announced) == 2)
        # When a second result of the same capture time comes, then a frame a second later
        decider.submit(FrameResult("gate", 1, BEFORE, DETECTOR, (PERSON,)))
        clock.now = BEFORE + 1.0
        decider.submit(result(BEFORE + 1.0, PERSON))
        assert wait_until(lambda: len(announced) >= 3)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    # Then only the later frame started an event, and no two events share an id
    starts = [alert.event for alert in announced if alert.event.kind is AlertKind.START]
    assert [event.frame_ts for event in starts] == [BEFORE, BEFORE + 1.0]
    assert len({event.event_id for event in starts}) == 2
