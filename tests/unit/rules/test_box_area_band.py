"""A rule's box area band (``min_box_area``, ``max_box_area``): a track becomes the rule's object on a
frame its box covers a share of the frame within the band, as Frigate's and DeepStream's object size
filters keep far-off figures and whole-frame false boxes out; once followed it stays so, as with
``min_score``, so a person who walks up to the camera is not dropped for growing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from gateway.config import CameraConfig, parse_config
from gateway.domain import AlertEvent, AlertKind, Detection, FrameResult, ModelRef, Track
from gateway.errors import ConfigError
from gateway.ingest.sampler import CameraRuntime
from gateway.pipeline.specs import camera_rules
from gateway.rules.engine import RuleEngine

DETECTOR = ModelRef("person-detector", 1)


def camera(**rule: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "gate",
            "url": "rtsp://127.0.0.1/stream",
            "model": "person-detector",
            "rules": [
                {
                    "name": "someone",
                    "labels": ["person"],
                    "min_frames": 1,
                    "end_after_s": 5,
                    "cooldown_s": 0,
                    **rule,
                }
            ],
        }
    )


def sized(side: float, score: float = 0.9) -> Track:
    """Track 1, a square of ``side`` (its area side squared) standing at the frame's bottom centre."""
    return Track(1, "person", score, (0.5 - side / 2, 1.0 - side, 0.5 + side / 2, 1.0), True, 0.0)


def run(engine: RuleEngine, sides: Sequence[float], start: int = 0) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for index, side in enumerate(sides, start):
        events += engine.process(
            FrameResult("gate", index, float(index), DETECTOR, (), tracks=(sized(side),))
        )
    return events


def starts(events: Sequence[AlertEvent]) -> list[float]:
    return [event.frame_ts for event in events if event.kind is AlertKind.START]


def test_a_figure_too_small_is_not_followed_until_it_comes_near() -> None:
    engine = RuleEngine([camera_rules(camera(min_box_area=0.05))])
    # Boxes of 0.01 and 0.04 of the frame, then 0.09 (it walked nearer), then 0.04 again.
    events = run(engine, [0.1, 0.2, 0.3, 0.2, 0.2])
    assert starts(events) == [2.0]
    assert not any(event.kind is AlertKind.END for event in events)  # followed, smaller or not


def test_a_box_over_most_of_the_frame_is_not_followed_unless_it_grew_there() -> None:
    light_change = RuleEngine([camera_rules(camera(max_box_area=0.5))])
    assert run(light_change, [0.9, 0.9, 0.95]) == []
    walker = RuleEngine([camera_rules(camera(max_box_area=0.5))])
    events = run(walker, [0.5, 0.8, 0.95])  # 0.25 of the frame, then 0.64 and 0.9 as it comes closer
    assert starts(events) == [0.0]
    assert not any(event.kind is AlertKind.END for event in events)


def test_without_a_band_every_size_is_followed() -> None:
    assert starts(run(RuleEngine([camera_rules(camera())]), [0.01, 0.99])) == [0.0]


def test_a_reload_that_changes_the_band_qualifies_each_track_anew() -> None:
    engine = RuleEngine([camera_rules(camera())])
    assert starts(run(engine, [0.2])) == [0.0]
    reconfigured = engine.reconfigure([camera_rules(camera(min_box_area=0.05))], now=0.5)
    # The small track is no longer the rule's object: its event ends, and a new one starts once it
    # comes near.
    events = reconfigured + run(engine, [0.2] * 7 + [0.3], start=1)
    assert [event.kind for event in events].count(AlertKind.END) == 1
    assert starts(events) == [8.0]


def test_a_band_with_nothing_between_its_ends_is_refused_on_max_box_area() -> None:
    text = (
        "cameras:\n  - id: gate\n    url: clip.mp4\n    model: person-detector\n    rules:\n"
        "      - name: someone\n        min_box_area: 0.3\n        max_box_area: 0.2\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "gateway.yaml")
    assert [str(problem) for problem in raised.value.problems] == [
        "gateway.yaml:8: cameras[0].rules[0].max_box_area: must be at least min_box_area (0.3), got 0.2: "
        "no box would fit between them"
    ]


def test_motion_gating_keeps_seeing_only_the_objects_in_the_band() -> None:
    runtime = CameraRuntime(None, camera(min_box_area=0.05, max_box_area=0.5), (), None, 0.2)  # type: ignore[arg-type]
    small = Detection("person", 0.9, (0.45, 0.9, 0.55, 1.0))
    near = Detection("person", 0.9, (0.3, 0.5, 0.7, 1.0))
    whole = Detection("person", 0.9, (0.0, 0.0, 1.0, 1.0))
    assert [runtime.follows_any([detection]) for detection in (small, near, whole)] == [False, True, False]
