"""One change that becomes the new normal is one ``scene_change``, however its cells cross the
threshold: a change spread over scattered regions of the map, whose cells start to score on
different frames, is still one alert with the box around all of it (pure: scripted maps)."""

from __future__ import annotations

from collections import Counter

from gateway.domain import AlertEvent, AlertKind
from gateway.rules.anomaly import SceneAnomaly, SceneAnomalySpec
from tests.unit.rules.test_anomaly import CAR, Cells, cells_map, engine, result, summary

STEP = 0.2
"""5 frames/s, the gateway's usual ``detect_fps``."""
SIGN = ((0, 5),)
"""Part of the same change, in a region of its own: it starts to score one frame after the car."""
SHADOW = ((5, 1),)
"""Part of the same change too, in another region: it starts to score 2 s after the car."""
WALKER = ((5, 7),)
"""Someone who walks in at 40 s and stands there: not part of the change."""


def scripted(at: float, later: Cells = (), later_from: float = 0.0) -> Cells:
    """The cells anomalous at ``at``: the change's regions from the moment each starts, the
    walker from 40 s, and ``later`` (another change) from ``later_from``."""
    hot: Cells = CAR
    if at >= STEP:
        hot += SIGN
    if at >= 2.0:
        hot += SHADOW
    if at >= 40.0:
        hot += WALKER
    if later and at >= later_from:
        hot += later
    return hot


def times(until: float) -> list[float]:
    """The capture times of the frames from 0 to ``until``."""
    return [round(frame * STEP, 3) for frame in range(round(until / STEP) + 1)]


def play(rule: SceneAnomaly, until: float, later: Cells = (), later_from: float = 0.0) -> list[AlertEvent]:
    """The scene-change events of the scripted frames up to ``until``."""
    return [
        event
        for at in times(until)
        for event in rule.judge(result(at, cells_map(scripted(at, later, later_from))))[1]
    ]


def test_a_change_whose_regions_start_on_different_frames_is_one_scene_change() -> None:
    # Given a change whose three regions start to score at 0 s, 0.2 s and 2 s, and stay
    rule = SceneAnomaly(SceneAnomalySpec(60.0, 5.0))
    # When the first of them has lasted new_normal_after_s (and well past that of the others)
    events = play(rule, until=70.0)
    # Then one scene change reports it, at once (not delayed), with the box around all three
    # regions, each widened by one cell
    assert summary(events) == [("start", "scene_change", 60.0), ("end", "scene_change", 60.0)]
    assert events[0].box == (0.0, 0.0, 7 / 8, 1.0)
    # and all of it is the new normal, while the walker who came later still holds the rule
    finding, _ = rule.judge(result(70.2, cells_map(scripted(70.2))))
    assert finding is not None
    assert finding.box == (7 / 8, 5 / 6, 1.0, 1.0)


def test_a_change_that_begins_later_is_still_reported_on_its_own() -> None:
    # Given the same change, and a second one elsewhere that begins 10 s after it (more than
    # grace_s later: not the same change)
    rule = SceneAnomaly(SceneAnomalySpec(60.0, 5.0))
    # When both have lasted new_normal_after_s
    events = play(rule, until=75.0, later=((0, 0),), later_from=10.0)
    # Then each is reported once, when it has lasted that long: none is lost (the second's box is
    # its cell widened by one, the cells already of the first patch aside)
    assert [(event.kind, event.frame_ts, event.box) for event in events] == [
        (AlertKind.START, 60.0, (0.0, 0.0, 7 / 8, 1.0)),
        (AlertKind.END, 60.0, (0.0, 0.0, 7 / 8, 1.0)),
        (AlertKind.START, 70.0, (0.0, 0.0, 2 / 8, 2 / 6)),
        (AlertKind.END, 70.0, (0.0, 0.0, 2 / 8, 2 / 6)),
    ]


def test_through_the_engine_one_change_is_one_paired_scene_change_and_the_anomaly_ends() -> None:
    # Given the rule engine with new_normal_after_s 60 and end_after_s 5, and the scattered
    # change without the walker
    rules = engine(60.0)
    events: list[AlertEvent] = []
    for at in times(90.0):
        hot = tuple(cell for cell in scripted(at) if cell not in WALKER)
        events += rules.process(result(at, cells_map(hot)))
    # Then one anomaly event, one scene change at 60 s, and the anomaly ends end_after_s after the
    # change became the new normal
    assert summary(events) == [
        ("start", "anomaly", 0.4),
        ("start", "scene_change", 60.0),
        ("end", "scene_change", 60.0),
        ("end", "anomaly", 64.8),
    ]
    # and every start has exactly one end
    kinds = Counter((event.event_id, event.kind) for event in events)
    for event_id in {event.event_id for event in events}:
        assert kinds[(event_id, AlertKind.START)] == kinds[(event_id, AlertKind.END)] == 1
