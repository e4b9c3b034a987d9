"""A reload that keeps a duration rule (loiter, count, stationary) hands its open event over: the
event lasts while its object stays, whatever the new ``min_s``. ``min_s`` is how long the condition
must hold before an event starts; an event already running has met it, so raising it must not end
that event as if its object had left (``cleared``) and start a second one for the same stay.

Found against a live ``serve``: a SIGHUP raising a stationary rule's ``min_s`` from 4 to 30 s while a
face stood still ended its event 6 s later (``reason=cleared``) and started another 20 s after, for
the same track that never moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from gateway.domain import AlertEvent, AlertKind, FrameResult, ModelRef, Track
from gateway.rules.engine import RuleEngine
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType

DETECTOR = ModelRef("detector", 1)
YARD = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
TIMING = EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=2.0, max_event_s=3600.0)
STILL = (0.4, 0.4, 0.6, 0.8)
OTHER = (0.1, 0.6, 0.2, 0.9)


def spec(kind: RuleType, min_s: float, min_count: int = 1) -> RuleSpec:
    return RuleSpec(
        "dwell",
        kind,
        "detector",
        frozenset({"person"}),
        (YARD,),
        0.5,
        1,
        TIMING,
        min_s=min_s,
        min_count=min_count,
    )


def frame(at: float, *boxes: tuple[float, float, float, float]) -> FrameResult:
    tracks = tuple(Track(index + 1, "person", 0.9, box, True, 0.0) for index, box in enumerate(boxes))
    return FrameResult("gate", round(at * 10), at, DETECTOR, (), tracks=tracks)


def play(
    engine: RuleEngine, start: float, end: float, boxes: Sequence[tuple[float, float, float, float]]
) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    at = start
    while at <= end + 1e-9:
        events += engine.process(frame(at, *boxes))
        at = round(at + 0.5, 3)
    return events


@pytest.mark.parametrize(
    ("kind", "boxes", "min_count"),
    [
        (RuleType.LOITER, [STILL], 1),
        (RuleType.STATIONARY, [STILL], 1),
        (RuleType.COUNT, [STILL, OTHER], 2),
    ],
)
def test_raising_min_s_keeps_the_open_event_of_a_stay_that_goes_on(
    kind: RuleType, boxes: list[tuple[float, float, float, float]], min_count: int
) -> None:
    # Given: the condition has held for 10 s, past min_s = 4, so the event is open.
    before = spec(kind, 4.0, min_count)
    engine = RuleEngine([CameraRules("gate", (before,))])
    events = play(engine, 0.0, 10.0, boxes)
    assert [event.kind for event in events] == [AlertKind.START]
    # When: a reload raises min_s to 60 s (the rule keeps its name, type and model) ...
    assert engine.reconfigure([CameraRules("gate", (replace(before, min_s=60.0),))], now=10.0) == []
    # ... and the object stays put for another 80 s.
    events += play(engine, 10.5, 90.0, boxes)
    # Then: still the one event, open; it ends once, when the object leaves.
    assert [event.kind for event in events] == [AlertKind.START]
    events += play(engine, 90.5, 95.0, [])
    assert [event.kind for event in events] == [AlertKind.START, AlertKind.END]
    assert events[0].event_id == events[1].event_id


@pytest.mark.parametrize(
    ("kind", "boxes", "min_count"),
    [
        (RuleType.LOITER, [STILL], 1),
        (RuleType.STATIONARY, [STILL], 1),
        (RuleType.COUNT, [STILL, OTHER], 2),
    ],
)
def test_a_raised_min_s_applies_to_the_next_stay(
    kind: RuleType, boxes: list[tuple[float, float, float, float]], min_count: int
) -> None:
    # Given: an event open under min_s = 4, handed over to min_s = 20, then the object leaves.
    before = spec(kind, 4.0, min_count)
    engine = RuleEngine([CameraRules("gate", (before,))])
    events = play(engine, 0.0, 10.0, boxes)
    engine.reconfigure([CameraRules("gate", (replace(before, min_s=20.0),))], now=10.0)
    events += play(engine, 10.5, 12.0, boxes)
    events += play(engine, 12.5, 20.0, [])
    assert [event.kind for event in events] == [AlertKind.START, AlertKind.END]
    # When: it comes back (a new stay; for loiter and stationary, a new track) ...
    if kind is RuleType.COUNT:
        later = play(engine, 20.5, 60.0, boxes)
    else:
        later = []
        at = 20.5
        while at <= 60.0:
            track = Track(9, "person", 0.9, STILL, True, 20.5)
            later += engine.process(FrameResult("gate", round(at * 10), at, DETECTOR, (), tracks=(track,)))
            at = round(at + 0.5, 3)
    # Then: it starts only after the new min_s.
    (start,) = later
    assert start.kind is AlertKind.START
    assert start.frame_ts == pytest.approx(20.5 + 20.0, abs=0.51)
