"""A stationary rule whose ``min_s`` spans more frames than the judge keeps per track
(``HISTORY_LIMIT``) still fires: its history spans ``min_s`` whatever the frame rate.

At ``detect_fps: 5`` a 4096-box history covers 819 s, so a rule with ``min_s: 900`` (a bag left for a
quarter of an hour) compared each box with one from 819 s before and never held."""

from __future__ import annotations

import pytest

from gateway.domain import AlertEvent, AlertKind, FrameResult, ModelRef, Track
from gateway.rules.dwell import HISTORY_LIMIT
from gateway.rules.engine import RuleEngine
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType

DETECTOR = ModelRef("detector", 1)
YARD = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
BAG = (0.4, 0.6, 0.5, 0.8)
FPS = 5


@pytest.mark.parametrize("min_s", [60.0, 900.0])
def test_a_bag_left_for_min_s_starts_one_event_then_whatever_the_history_limit(min_s: float) -> None:
    assert min_s * FPS > HISTORY_LIMIT or min_s == 60.0
    timing = EventTiming(cooldown_s=0.0, update_interval_s=10_000.0, end_after_s=5.0, max_event_s=86_400.0)
    rule = RuleSpec("left-bag", RuleType.STATIONARY, "detector", frozenset({"bag"}), (YARD,), 0.5, 1, timing,
                    min_s=min_s)  # fmt: skip
    engine = RuleEngine([CameraRules("gate", (rule,))])
    events: list[AlertEvent] = []
    for index in range(round((min_s + 100.0) * FPS)):
        at = index / FPS
        track = Track(1, "bag", 0.9, BAG, True, 0.0)
        events += engine.process(FrameResult("gate", index, at, DETECTOR, (), tracks=(track,)))
    (start,) = events
    assert start.kind is AlertKind.START
    assert start.frame_ts == pytest.approx(min_s, abs=min_s / 100)
