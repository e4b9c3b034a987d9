"""A rule's ``exclude_zones``: zones where the rule never matches, inside its own zones too, as
Frigate's object masks and DeepStream's inverse regions of interest keep a poster or a television the
detector takes for a person from raising alerts. An object is there when its position (the bottom
centre of its box) is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from gateway.config import CameraConfig
from gateway.domain import AlertEvent, AlertKind, Detection, FrameResult, ModelRef, Track
from gateway.ingest.sampler import CameraRuntime
from gateway.pipeline.specs import camera_rules
from gateway.rules.engine import RuleEngine

DETECTOR = ModelRef("person-detector", 1)
# The yard is the bottom half; the poster's wall is a strip of it on the left.
ZONES = [
    {"name": "yard", "polygon": [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]},
    {"name": "poster", "polygon": [[0.0, 0.5], [0.3, 0.5], [0.3, 1.0], [0.0, 1.0]]},
]
POSTER = 0.15
"""x of a position inside the poster (and the yard)."""
LAWN = 0.7
"""x of a position inside the yard, outside the poster."""


def camera(**rule: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "gate",
            "url": "rtsp://127.0.0.1/stream",
            "model": "person-detector",
            "zones": ZONES,
            "rules": [
                {"name": "someone", "labels": ["person"], "min_frames": 1, "end_after_s": 2, "cooldown_s": 0}
                | rule
            ],
        }
    )


def standing(track_id: int, x: float, y: float = 0.9) -> Track:
    """A person whose position (the bottom centre of the box) is (x, y)."""
    return Track(track_id, "person", 0.9, (x - 0.05, y - 0.2, x + 0.05, y), True, 0.0)


def run(config: CameraConfig, frames: Sequence[Sequence[Track]]) -> list[AlertEvent]:
    engine = RuleEngine([camera_rules(config)])
    events: list[AlertEvent] = []
    for index, tracks in enumerate(frames):
        events += engine.process(FrameResult("gate", index, float(index), DETECTOR, (), tracks=tuple(tracks)))
    return events


def starts(events: Sequence[AlertEvent]) -> list[tuple[float, str | None]]:
    return [(event.frame_ts, event.zone) for event in events if event.kind is AlertKind.START]


@pytest.mark.parametrize("zones", [["yard"], []], ids=["in the yard", "anywhere"])
def test_a_person_on_the_poster_raises_no_presence_and_one_beside_it_does(zones: list[str]) -> None:
    config = camera(zones=zones, exclude_zones=["poster"])
    assert run(config, [[standing(1, POSTER)]] * 5) == []
    # Leaving the poster, a track is matched where it is.
    moved = run(config, [[standing(1, POSTER)]] * 2 + [[standing(1, LAWN)]] * 2)
    assert starts(moved) == [(2.0, zones[0] if zones else None)]


def test_without_exclude_zones_the_poster_is_part_of_the_yard() -> None:
    assert starts(run(camera(zones=["yard"]), [[standing(1, POSTER)]] * 2)) == [(0.0, "yard")]


def test_a_loiterers_stay_ends_when_it_steps_onto_the_excluded_zone() -> None:
    config = camera(type="loiter", zones=["yard"], exclude_zones=["poster"], min_s=3)
    # On the poster all along: never a loiterer.
    assert run(config, [[standing(1, POSTER)]] * 8) == []
    # On the lawn long enough, then onto the poster for good: its event ends.
    events = run(config, [[standing(1, LAWN)]] * 5 + [[standing(1, POSTER)]] * 6)
    assert starts(events) == [(3.0, "yard")]
    assert [event.kind for event in events] == [AlertKind.START, AlertKind.END]


def test_a_count_leaves_out_the_tracks_on_the_excluded_zone() -> None:
    config = camera(type="count", zones=["yard"], exclude_zones=["poster"], min_count=2, min_s=1)
    two_and_the_poster = [standing(1, LAWN), standing(2, 0.5), standing(3, POSTER)]
    one_and_the_poster = [standing(1, LAWN), standing(3, POSTER)]
    assert run(config, [one_and_the_poster] * 5) == []
    events = run(config, [two_and_the_poster] * 3)
    assert [event.count for event in events if event.kind is AlertKind.START] == [2]


def test_a_statue_on_the_excluded_zone_is_never_stationary() -> None:
    config = camera(type="stationary", exclude_zones=["poster"], min_s=2)
    assert run(config, [[standing(1, POSTER)]] * 6) == []
    assert starts(run(config, [[standing(1, LAWN)]] * 6)) == [(2.0, None)]


def test_motion_gating_keeps_seeing_no_object_on_a_zone_its_rule_excludes() -> None:
    # A poster taken for a person kept a still scene's model running at the keepalive rate for good.
    runtime = CameraRuntime(None, camera(exclude_zones=["poster"]), (), None, 0.2)  # type: ignore[arg-type]
    poster = Detection("person", 0.9, (POSTER - 0.05, 0.7, POSTER + 0.05, 0.9))
    lawn = Detection("person", 0.9, (LAWN - 0.05, 0.7, LAWN + 0.05, 0.9))
    assert [runtime.follows_any(detections) for detections in ([poster], [lawn], [poster, lawn])] == [
        False,
        True,
        True,
    ]
    # Another rule of the camera that does not exclude the poster still follows the person there.
    both = camera(exclude_zones=["poster"]).model_copy(
        update={"rules": [*camera(exclude_zones=["poster"]).rules, *camera(name="anyone").rules]}
    )
    assert CameraRuntime(None, both, (), None, 0.2).follows_any([poster])  # type: ignore[arg-type]
