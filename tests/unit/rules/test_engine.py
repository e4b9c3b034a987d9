"""Table tests: each case is a script of frames (time, detections) and the alerts it must produce.

Detections carry the track id the camera's tracker would have given them; each becomes one of the
frame's tracks, so presence rules are judged per track here exactly as after the real tracker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from gateway.config import CameraConfig
from gateway.domain import AlertEvent, AlertKind, Detection, EndReason, FrameResult, ModelRef, Track
from gateway.pipeline.specs import camera_rules
from gateway.rules.engine import RuleEngine
from gateway.rules.lifecycle import EventState, EventTracker, IllegalTransitionError
from gateway.rules.specs import EventTiming

DETECTOR = ModelRef("person-detector", 2)
ANOMALY_MODEL = ModelRef("scene-anomaly-gate", 1)
YARD = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]
ROAD = [(0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5)]
IN_YARD = (0.4, 0.4, 0.6, 0.8)
IN_ROAD = (0.4, 0.1, 0.6, 0.3)

Frame = tuple[float, Sequence[Detection]]


def camera(rule: dict[str, Any] | None = None, anomaly: dict[str, Any] | None = None) -> CameraConfig:
    base_rule = {
        "name": "intrusion",
        "labels": ["person"],
        "zones": ["yard"],
        "min_score": 0.5,
        "min_frames": 3,
        "cooldown_s": 30,
        "update_interval_s": 10,
        "end_after_s": 5,
        "max_event_s": 300,
    }
    return CameraConfig.model_validate(
        {
            "id": "gate",
            "url": "rtsp://127.0.0.1/stream",
            "model": "person-detector",
            "zones": [{"name": "yard", "polygon": YARD}, {"name": "road", "polygon": ROAD}],
            "rules": [] if rule is None and anomaly is not None else [{**base_rule, **(rule or {})}],
            "anomaly": None if anomaly is None else {"model": "scene-anomaly-gate", **anomaly},
        }
    )


def person(
    score: float = 0.9,
    box: tuple[float, float, float, float] = IN_YARD,
    label: str = "person",
    track: int = 1,
) -> Detection:
    return Detection(label, score, box, track)


def result(index: int, at: float, detections: Sequence[Detection], model: ModelRef = DETECTOR) -> FrameResult:
    tracks = tuple(
        Track(detection.track_id, detection.label, detection.score, detection.box, True, 0.0)
        for detection in detections
        if detection.track_id is not None and detection.box is not None
    )
    return FrameResult("gate", index, at, model, tuple(detections), tracks=tracks)


def run(config: CameraConfig, frames: Sequence[Frame], model: ModelRef = DETECTOR) -> list[AlertEvent]:
    engine = RuleEngine([camera_rules(config)])
    events: list[AlertEvent] = []
    for index, (at, detections) in enumerate(frames):
        events += engine.process(result(index, at, detections, model))
    return events


def summary(events: Sequence[AlertEvent]) -> list[tuple[str, float]]:
    return [(event.kind.value, event.frame_ts) for event in events]


def every_second(start: float, stop: float, detections: Sequence[Detection]) -> list[Frame]:
    return [(float(at), detections) for at in range(int(start), int(stop))]


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        pytest.param({}, every_second(0, 2, [person()]), [], id="dwell: 2 frames are not enough"),
        pytest.param(
            {}, every_second(0, 3, [person()]), [("start", 2.0)], id="dwell: start on the 3rd frame"
        ),
        pytest.param(
            {},
            [(0.0, [person()]), (1.0, [person()]), (2.0, [person(box=IN_ROAD)]), (3.0, [person()])],
            [],
            id="dwell: a frame out of the zone resets the streak",
        ),
        pytest.param(
            {},
            [(0.0, [person()]), (1.0, [person()]), (2.0, []), (3.0, [person()])],
            [("start", 3.0)],
            id="dwell: a frame the track is missing on neither counts nor resets (the tracker forgives it)",
        ),
        pytest.param({"min_frames": 1}, [(0.0, [person(0.49)])], [], id="min score"),
        pytest.param({"min_frames": 1}, [(0.0, [person(label="car")])], [], id="label filter"),
        pytest.param(
            {"min_frames": 1, "labels": []}, [(0.0, [person(label="car")])], [("start", 0.0)], id="any label"
        ),
        pytest.param({"min_frames": 1}, [(0.0, [person(box=IN_ROAD)])], [], id="outside the rule's zones"),
        pytest.param(
            {"min_frames": 1, "zones": []},
            [(0.0, [person(box=IN_ROAD)])],
            [("start", 0.0)],
            id="no zones: whole frame",
        ),
        pytest.param(
            {"min_frames": 1},
            [(0.0, [person(), Detection("anomaly", 0.99, None)])],
            [("start", 0.0)],
            id="box-less detections never hold a detector rule",
        ),
        pytest.param(
            {"min_frames": 1, "end_after_s": 5},
            [(0.0, [person()]), (3.0, []), (4.9, []), (5.0, [])],
            [("start", 0.0), ("end", 5.0)],
            id="end after end_after_s without the rule",
        ),
        pytest.param(
            {"min_frames": 1, "end_after_s": 5},
            [(0.0, [person()]), (4.0, []), (4.5, [person()]), (9.0, []), (9.5, [])],
            [("start", 0.0), ("end", 9.5)],
            id="a match in between keeps the event open",
        ),
        pytest.param(
            {"min_frames": 1, "max_event_s": 10, "cooldown_s": 0, "update_interval_s": 100},
            every_second(0, 12, [person()]),
            [("start", 0.0), ("end", 10.0), ("start", 10.0)],
            id="max_event_s ends a long event; with no cooldown it restarts",
        ),
        pytest.param(
            {"min_frames": 1, "cooldown_s": 30, "end_after_s": 1},
            [(0.0, [person()]), (2.0, []), (20.0, [person()]), (31.0, []), (32.0, [person()])],
            [("start", 0.0), ("end", 2.0), ("start", 32.0)],
            id="cooldown: no new start until cooldown_s after the end",
        ),
        pytest.param(
            {"min_frames": 1, "update_interval_s": 10},
            [(0.0, [person(0.6)]), (5.0, [person(0.9)]), (10.0, [person(0.55)]), (11.0, [person(0.95)])],
            [("start", 0.0), ("update", 11.0)],
            id="update: at most every interval, only with a better score",
        ),
        pytest.param(
            {"min_frames": 1, "update_interval_s": 10, "zones": ["yard", "road"]},
            [
                (0.0, [person(0.9)]),
                (10.0, [person(0.8)]),
                (12.0, [person(0.8, IN_ROAD)]),
                (13.0, [person(0.8)]),
            ],
            [("start", 0.0), ("update", 12.0)],
            id="update: a new zone counts as news",
        ),
    ],
)
def test_rule_lifecycle(
    rule: dict[str, Any], frames: Sequence[Frame], expected: list[tuple[str, float]]
) -> None:
    assert summary(run(camera(rule), frames)) == expected


def test_alerts_carry_what_fired_and_group_by_event() -> None:
    frames: list[Frame] = [
        (100.0, [person(0.6)]),
        (111.0, [person(0.8), person(0.95, IN_ROAD, track=2)]),  # track 2 is outside the rule's zones
        (120.0, []),
    ]
    start, update, end = run(camera({"min_frames": 1}), frames)
    assert start.kind is AlertKind.START
    assert (start.camera_id, start.rule, start.label, start.zone, start.box) == (
        "gate",
        "intrusion",
        "person",
        "yard",
        IN_YARD,
    )
    assert start.model == DETECTOR
    assert update.score == 0.8  # the best detection inside the rule's zones
    assert end.kind is AlertKind.END
    assert end.score == 0.8  # the end reports the event's best observation
    assert start.event_id == update.event_id == end.event_id == "gate:intrusion:t1:100000"
    assert start.track_id == update.track_id == end.track_id == 1
    assert end.end_reason is EndReason.CLEARED


def test_presence_is_one_event_per_track() -> None:
    # Two people in the yard at once make two events; each ends when its own track leaves.
    frames: list[Frame] = [
        (0.0, [person(track=1), person(track=2)]),
        (1.0, [person(track=1), person(track=2)]),
        (2.0, [person(track=2)]),
        (8.0, [person(track=2)]),
        (14.0, []),
    ]
    events = run(camera({"min_frames": 1, "end_after_s": 5}), frames)
    assert [(event.kind.value, event.track_id, event.frame_ts) for event in events] == [
        ("start", 1, 0.0),
        ("start", 2, 0.0),
        ("end", 1, 8.0),
        ("end", 2, 14.0),
    ]
    assert len({event.event_id for event in events}) == 2


def test_tick_ends_events_when_frames_stop_arriving() -> None:
    # Given an open event, when motion gating stops results, then time alone ends it.
    engine = RuleEngine([camera_rules(camera({"min_frames": 1, "end_after_s": 5}))])
    assert summary(engine.process(result(0, 0.0, [person()]))) == [("start", 0.0)]
    assert engine.tick(4.0) == []
    assert summary(engine.tick(6.0)) == [("end", 6.0)]
    assert engine.tick(7.0) == []


def test_results_of_other_models_and_cameras_are_ignored() -> None:
    engine = RuleEngine([camera_rules(camera({"min_frames": 2}))])
    assert engine.process(result(0, 0.0, [person()])) == []
    # An anomaly model's result in between does not break the detector rule's streak.
    assert engine.process(result(1, 0.5, [], ANOMALY_MODEL)) == []
    other = result(2, 0.7, [person()])
    assert engine.process(FrameResult("other", 2, 0.7, DETECTOR, other.detections, tracks=other.tracks)) == []
    assert summary(engine.process(result(3, 1.0, [person()]))) == [("start", 1.0)]


def anomaly(score: float) -> list[Detection]:
    return [Detection("anomaly", score, None)]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        pytest.param([(0.0, anomaly(0.9)), (1.0, anomaly(0.9))], [], id="dwell not reached"),
        pytest.param(
            [(0.0, anomaly(0.9)), (1.0, anomaly(0.9)), (2.0, anomaly(0.91)), (3.0, []), (8.0, [])],
            [("start", 2.0), ("end", 8.0)],
            id="min_frames anomalous frames start, normal frames end",
        ),
        pytest.param(
            [(0.0, anomaly(0.9)), (1.0, []), (2.0, anomaly(0.9)), (3.0, anomaly(0.9))],
            [],
            id="a normal frame resets",
        ),
    ],
)
def test_anomaly_rule(frames: Sequence[Frame], expected: list[tuple[str, float]]) -> None:
    config = camera(anomaly={"min_frames": 3, "end_after_s": 5})
    events = run(config, frames, model=ANOMALY_MODEL)
    assert summary(events) == expected
    for event in events:
        assert (event.rule, event.label, event.box, event.zone, event.model) == (
            "anomaly",
            "anomaly",
            None,
            None,
            ANOMALY_MODEL,
        )


def test_anomaly_rule_ignores_detector_results() -> None:
    config = camera(anomaly={"min_frames": 1})
    assert run(config, [(0.0, anomaly(0.9))], model=DETECTOR) == []


def test_tracker_refuses_illegal_transitions() -> None:
    tracker = EventTracker("gate", "intrusion", EventTiming(), 1)
    assert tracker.state is EventState.IDLE
    with pytest.raises(IllegalTransitionError, match="idle -> cooldown"):
        tracker._move(EventState.COOLDOWN)
