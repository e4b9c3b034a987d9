"""The anomaly rule's location and new-normal logic, driven by scripted maps (pure: no model)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from gateway.config import CameraConfig
from gateway.domain import AlertEvent, AlertKind, AnomalyMap, Detection, FrameResult, ModelRef
from gateway.pipeline.specs import rule_specs
from gateway.rules.anomaly import SceneAnomaly, SceneAnomalySpec
from gateway.rules.engine import RuleEngine
from gateway.rules.specs import CameraRules

MODEL = ModelRef("scene-anomaly-gate", 1)
ROWS, COLUMNS = 6, 8
Cells = tuple[tuple[int, int], ...]


def cells_map(hot: Cells = (), value: float = 0.8, peak: tuple[int, int] | None = None) -> AnomalyMap:
    values: npt.NDArray[np.float32] = np.full((ROWS, COLUMNS), 0.1, dtype=np.float32)
    for row, column in hot:
        values[row, column] = value
    if peak is not None:
        values[peak] = 0.95
    return AnomalyMap(values, 0.5)


def result(at: float, anomaly_map: AnomalyMap | None, detections: Sequence[Detection] = ()) -> FrameResult:
    return FrameResult("gate", round(at * 10), at, MODEL, tuple(detections), anomaly_map=anomaly_map)


CAR = ((2, 2), (2, 3), (3, 2), (3, 3))
PERSON = ((0, 7), (1, 7))


def test_one_region_is_located_at_its_peak_cell() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(None, 5.0))
    finding, events = rule.judge(result(0.0, cells_map(CAR, peak=(3, 2))))
    assert events == []
    assert finding is not None
    assert finding.score == pytest.approx(0.95)
    assert finding.box == (2 / 8, 3 / 6, 3 / 8, 4 / 6)


def test_scattered_regions_have_no_single_location() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(None, 5.0))
    finding, _ = rule.judge(result(0.0, cells_map(CAR + PERSON)))
    assert finding is not None
    assert finding.box is None


def test_a_quiet_map_holds_nothing() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(None, 5.0))
    assert rule.judge(result(0.0, cells_map())) == (None, [])


def test_without_a_map_the_detection_holds_frame_level() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(60.0, 5.0))
    finding, _ = rule.judge(result(0.0, None, [Detection("anomaly", 0.7, None)]))
    assert finding is not None
    assert (finding.score, finding.box) == (0.7, None)
    assert rule.judge(result(1.0, None)) == (None, [])


def park(rule: SceneAnomaly, until: float, step: float = 1.0, extra: Cells = ()) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    at = 0.0
    while at <= until:
        events += rule.judge(result(at, cells_map(CAR + extra)))[1]
        at += step
    return events


def test_a_lasting_change_becomes_the_new_normal_once_with_an_alert_of_its_own() -> None:
    # Given a car that parks at t=0 and stays
    rule = SceneAnomaly(SceneAnomalySpec(60.0, 5.0))
    # When it has been anomalous for 60 s
    events = park(rule, until=70.0)
    # Then one scene change was reported, as a start and end at the same frame, with the car's box
    # widened by one cell for its soft edges
    assert [(event.kind, event.label, event.frame_ts) for event in events] == [
        (AlertKind.START, "scene_change", 60.0),
        (AlertKind.END, "scene_change", 60.0),
    ]
    assert events[0].box == (1 / 8, 1 / 6, 5 / 8, 5 / 6)
    assert events[0].event_id == events[1].event_id == "gate:anomaly:scene_change:60000"
    # and the car no longer holds the rule, while the camera asks to be enrolled again
    assert rule.judge(result(71.0, cells_map(CAR)))[0] is None
    change = rule.change()
    assert change is not None
    assert (change.camera_id, change.since, change.box) == ("gate", 60.0, (1 / 8, 1 / 6, 5 / 8, 5 / 6))
    assert change.share == pytest.approx(16 / 48)
    # A person walking by elsewhere still does
    finding, _ = rule.judge(result(72.0, cells_map(CAR + PERSON)))
    assert finding is not None
    assert finding.box == (7 / 8, 0.0, 1.0, 1 / 6)


def test_a_patch_takes_in_the_warm_cells_around_the_change() -> None:
    # Given a car whose surroundings score just under the threshold (the coarse windows of the
    # model spread it a little), and flicker above and below the threshold there
    rule = SceneAnomaly(SceneAnomalySpec(60.0, 5.0))
    values = cells_map(CAR).cells.copy()
    values[0:2, 2:4] = 0.4
    rule.judge(result(0.0, AnomalyMap(values, 0.5)))
    for at in range(1, 61):
        rule.judge(result(float(at), AnomalyMap(values, 0.5)))
    # When those cells later cross the threshold
    values[0:2, 2:4] = 0.55
    # Then they are part of the new normal, not a new anomaly
    assert rule.judge(result(61.0, AnomalyMap(values, 0.5)))[0] is None


def test_a_patch_is_lifted_when_the_change_goes_away() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(60.0, 5.0))
    park(rule, until=61.0)
    # the car leaves: its cells are quiet for grace_s
    for at in (62.0, 64.0, 66.0, 67.0):
        assert rule.judge(result(at, cells_map())) == (None, [])
    assert rule.change() is None
    # and a new car in the same place is an anomaly again
    finding, _ = rule.judge(result(68.0, cells_map(CAR)))
    assert finding is not None


def test_short_misses_do_not_break_a_streak_but_long_ones_do() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(10.0, 5.0))
    events = []
    for at in (0.0, 4.0, 8.0, 11.0):  # a 4 s gap (< grace 5 s) between anomalous frames
        events += rule.judge(result(at, cells_map(CAR)))[1]
        if at == 4.0:
            rule.judge(result(6.0, cells_map()))
    assert [event.kind for event in events] == [AlertKind.START, AlertKind.END]

    broken = SceneAnomaly(SceneAnomalySpec(10.0, 5.0))
    events = []
    for at, hot in ((0.0, CAR), (6.0, ()), (7.0, CAR), (12.0, CAR)):
        events += broken.judge(result(at, cells_map(hot)))[1]
    assert events == []


def test_without_new_normal_nothing_is_ever_absorbed() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(None, 5.0))
    assert park(rule, until=3600.0, step=60.0) == []
    assert rule.change() is None


def test_a_model_with_another_grid_starts_afresh() -> None:
    rule = SceneAnomaly(SceneAnomalySpec(60.0, 5.0))
    park(rule, until=61.0)
    wider = AnomalyMap(np.full((6, 10), 0.1, dtype=np.float32), 0.5)
    assert rule.judge(result(62.0, wider)) == (None, [])
    assert rule.change() is None


def engine(new_normal_after_s: float | None) -> RuleEngine:
    return RuleEngine(gate_rules(new_normal_after_s))


def gate_rules(new_normal_after_s: float | None) -> tuple[CameraRules, ...]:
    """The gate camera's scene-anomaly rule, as the pipeline builds it from the config."""
    anomaly = {
        "model": "scene-anomaly-gate",
        "min_frames": 3,
        "end_after_s": 5,
        "cooldown_s": 30,
        "max_event_s": 300,
        "new_normal_after_s": new_normal_after_s,
    }
    camera = CameraConfig.model_validate({"id": "gate", "url": "gate.mp4", "anomaly": anomaly})
    return rule_specs([camera])


def summary(events: Sequence[AlertEvent]) -> list[tuple[str, str, float]]:
    return [(event.kind.value, event.label, event.frame_ts) for event in events]


def test_a_car_parked_for_an_hour_is_one_anomaly_and_one_scene_change_not_a_storm() -> None:
    # Given a car that parks at t=0 and stays an hour, seen at 1 frame/s
    def hour(rules: RuleEngine) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for second in range(3600):
            frame = result(float(second), cells_map(CAR), [Detection("anomaly", 0.8, None)])
            events += rules.process(frame)
        return events

    # Then with new_normal_after_s, the anomaly event ends end_after_s after the car became the new
    # normal (its last anomalous frame was at 119 s)
    assert summary(hour(engine(120.0))) == [
        ("start", "anomaly", 2.0),
        ("start", "scene_change", 120.0),
        ("end", "scene_change", 120.0),
        ("end", "anomaly", 124.0),
    ]
    # and without it, an event every max_event_s + cooldown_s for as long as the car stays
    starts = [event for event in hour(engine(None)) if event.kind is AlertKind.START]
    assert len(starts) == 11


def test_the_engine_reports_scene_changes_per_camera() -> None:
    rules = engine(60.0)
    for second in range(62):
        rules.process(result(float(second), cells_map(CAR)))
    change = rules.scene_change("gate")
    assert change is not None
    assert (change.camera_id, change.since) == ("gate", 60.0)
    assert rules.scene_change("elsewhere") is None


def test_new_normal_must_come_before_the_event_would_end_anyway() -> None:
    with pytest.raises(ValueError, match="must be shorter than max_event_s"):
        engine(300.0)
