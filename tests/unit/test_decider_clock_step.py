"""The wall clock stepping back (NTP, an RTC set by hand) while an event is open: frames are stamped
with that clock, so every frame after the step is older than the camera's newest judged one. The
camera must go on deciding on the new clock, and its open event must end (not stay open until the
clock catches up), whether frames keep coming or not (motion gating). The real decider, tracker,
rules and outbox; only the clock is set by hand."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, AlertKind, Detection, FrameResult, ModelRef, Track
from gateway.rules.engine import RuleEngine
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import TrackerSpec
from tests.unit.test_decider import wait_until

KEY = bytes(range(32))
DETECTOR = ModelRef("detector", 1)
YARD = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
PERSON = Detection("person", 0.9, (0.4, 0.4, 0.6, 0.8))
TIMING = EventTiming(cooldown_s=30.0, update_interval_s=100.0, end_after_s=5.0, max_event_s=300.0)
INTRUSION = RuleSpec(
    "intrusion", RuleType.PRESENCE, "detector", frozenset({"person"}), (YARD,), 0.5, 1, TIMING
)
RULES = [CameraRules("gate", (INTRUSION,))]
BEFORE, AFTER = 1_764_000_000.0, 1_764_000_000.0 - 3600.0
"""The clock before and after it stepped back an hour."""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def result(at: float, *detections: Detection) -> FrameResult:
    return FrameResult("gate", round(at * 10), at, DETECTOR, detections)


def kinds(alerts: list[Alert]) -> list[tuple[str, float]]:
    return [(alert.event.kind.value, alert.event.frame_ts) for alert in alerts]


def paired(alerts: list[Alert]) -> bool:
    starts = sorted(alert.event.event_id for alert in alerts if alert.event.kind is AlertKind.START)
    ends = sorted(alert.event.event_id for alert in alerts if alert.event.kind is AlertKind.END)
    return starts == ends


def decider_for(
    outbox: Outbox,
    clock: Clock,
    announced: list[Alert],
    rules: Sequence[CameraRules] = RULES,
    tick_s: float = 0.05,
    *,
    monotonic: Clock | None = None,
    observe: Callable[[FrameResult], None] | None = None,
) -> AlertDecider:
    """``monotonic``: the clock frames' monotonic capture times are read on (None: the real one);
    ``observe``: sees each frame result as the rules judge it. Every camera's tracker confirms a
    track on its first frame."""
    return AlertDecider(
        outbox,
        rules,
        announce=announced.append,
        registry=CollectorRegistry(),
        clock=clock,
        monotonic=monotonic or time.monotonic,
        trackers={camera.camera_id: TrackerSpec(confirm_hits=1) for camera in rules},
        tick_s=tick_s,
        observe=observe,
    )


def test_frames_after_the_clock_stepped_back_are_judged_and_the_open_event_ends(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(outbox, clock, announced)
    try:
        decider.start()
        # Given an event open on a person in the yard
        decider.submit(result(BEFORE, PERSON))
        assert wait_until(lambda: len(announced) == 1)
        # When the clock steps back an hour and the person is still there on the frames that follow
        clock.now = AFTER + 0.4
        decider.submit(result(AFTER, PERSON))
        decider.submit(result(AFTER + 0.2, PERSON))
        # Then the open event ends, dated at the last frame before the step, and the camera decides
        # on the new clock: the person starts an event there (no cooldown carried across the step)
        assert wait_until(lambda: len(announced) == 3), kinds(announced)
        assert kinds(announced) == [("start", BEFORE), ("end", BEFORE), ("start", AFTER)]
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert paired(announced)
    reopened = Outbox(tmp_path, "jetson-01", KEY)
    try:
        assert reopened.open_events() == []
    finally:
        reopened.close()


def test_an_open_event_ends_when_the_clock_stepped_back_and_no_frame_comes(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(outbox, clock, announced)
    try:
        decider.start()
        decider.submit(result(BEFORE, PERSON))
        assert wait_until(lambda: len(announced) == 1)
        # When the clock steps back an hour and motion gating sends no frames for an hour
        clock.now = AFTER
        # Then the next tick ends the event, dated at the last frame before the step, rather than
        # leaving it open until the clock is back there an hour later
        assert wait_until(lambda: len(announced) == 2), kinds(announced)
        assert kinds(announced) == [("start", BEFORE), ("end", BEFORE)]
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert paired(announced)


def test_a_late_frame_while_the_clock_holds_is_still_dropped(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE + 1.0), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(outbox, clock, announced)
    try:
        decider.start()
        decider.submit(result(BEFORE, PERSON))
        # A frame that finished inference after a newer one of the camera: judged never
        decider.submit(result(BEFORE - 0.2, PERSON))
        decider.submit(result(BEFORE + 0.2, PERSON))
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert [kind for kind, _at in kinds(announced)] == ["start", "end"]


def test_restart_ends_the_camera_s_open_events_and_forgets_its_cooldown() -> None:
    engine = RuleEngine(RULES)
    person = Track(1, "person", 0.9, PERSON.box or (0.0, 0.0, 0.0, 0.0), True, BEFORE)
    started = engine.process(FrameResult("gate", 1, BEFORE, DETECTOR, (PERSON,), tracks=(person,)))
    assert [event.kind for event in started] == [AlertKind.START]
    ended = engine.restart("gate", BEFORE)
    assert [(event.kind, event.event_id) for event in ended] == [(AlertKind.END, started[0].event_id)]
    assert engine.open_events() == 0
    # The same track on the new clock starts again: no cooldown from the old clock holds it back
    again = engine.process(FrameResult("gate", 2, AFTER, DETECTOR, (PERSON,), tracks=(person,)))
    assert [event.kind for event in again] == [AlertKind.START]
    # A camera the rules do not know has nothing to end
    assert engine.restart("elsewhere", AFTER) == []
