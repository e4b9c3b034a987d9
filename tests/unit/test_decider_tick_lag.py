"""Ticks (time passing without frames) must not end an event that the frames in flight still renew:
frames reach the rules a while after they were captured (inference, the inbox), so at the clock's
time the newest judged frame is always that much old. The real decider, tracker, rules and outbox;
only the clock is set by hand, and it counts its readings, which after the frames are judged are
the ticks'."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import TrackerSpec
from tests.unit.test_decider import wait_until
from tests.unit.test_decider_clock_step import BEFORE, KEY, PERSON, YARD, kinds, paired, result

LAG_S = 0.8
"""How long after its capture each frame is judged."""
INTRUSION = RuleSpec(
    "intrusion",
    RuleType.PRESENCE,
    "detector",
    frozenset({"person"}),
    (YARD,),
    0.5,
    1,
    EventTiming(cooldown_s=30.0, update_interval_s=100.0, end_after_s=0.5, max_event_s=300.0),
)


class CountingClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        return self.now

    def read_again(self, times: int) -> bool:
        """Wait until the clock has been read ``times`` more times (ticks, once frames are judged)."""
        start = self.readings
        return wait_until(lambda: self.readings >= start + times)


def test_an_event_renewed_by_every_frame_is_not_ended_by_ticks_between_them(tmp_path: Path) -> None:
    clock, announced = CountingClock(BEFORE + LAG_S), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = AlertDecider(
        outbox,
        [CameraRules("gate", (INTRUSION,))],
        announce=announced.append,
        registry=CollectorRegistry(),
        clock=clock,
        trackers={"gate": TrackerSpec(confirm_hits=1)},
        tick_s=0.01,
    )
    try:
        decider.start()
        # Given a person in the yard on frames one second apart (end_after_s 0.5 s: a frame that
        # does not hold ends the event), each judged LAG_S after its capture
        for second in (0.0, 1.0, 2.0):
            clock.now = BEFORE + second + LAG_S
            decider.submit(result(BEFORE + second, PERSON))
            # When the decider has judged the frame and ticked a few times before the next one
            assert clock.read_again(5)
            # Then the event stays open: the next frame, still in flight, renews it
            assert wait_until(lambda: len(announced) >= 1)
            assert kinds(announced) == [("start", BEFORE)]
        # When the frames stop (motion gating) for a second
        clock.now += 1.0
        # Then the event ends, dated in the frames' time: a second after the last frame judged
        assert wait_until(lambda: len(announced) == 2), kinds(announced)
        assert kinds(announced) == [("start", BEFORE), ("end", BEFORE + 3.0)]
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert paired(announced)
