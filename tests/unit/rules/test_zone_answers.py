"""Many rules on one zone: the zone's answer for a position is worked out once and shared by every
rule that asks, and the faster test answers exactly as the plain ray casting it replaced."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import pytest

from gateway.config import CameraConfig
from gateway.domain import FrameResult, ModelRef, Track
from gateway.pipeline.specs import camera_rules
from gateway.positions import EPSILON, Point, point_in_polygon
from gateway.rules import geometry
from gateway.rules.engine import RuleEngine
from gateway.rules.geometry import Zone

DETECTOR = ModelRef("person-detector", 1)


def _reference(point: Point, polygon: Sequence[Point]) -> bool:
    """The ray casting the gateway used before: one edge at a time, an edge's point counting inside."""
    x, y = point
    inside = False
    for index in range(len(polygon)):
        ax, ay = polygon[index]
        bx, by = polygon[(index + 1) % len(polygon)]
        cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        on_edge = (
            abs(cross) <= EPSILON
            and min(ax, bx) - EPSILON <= x <= max(ax, bx) + EPSILON
            and min(ay, by) - EPSILON <= y <= max(ay, by) + EPSILON
        )
        if on_edge:
            return True
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def _star(points: int, seed: int) -> tuple[Point, ...]:
    """A jagged outline around the centre that never crosses itself (its angles only increase)."""
    generator = random.Random(seed)
    radii = [generator.uniform(0.1, 0.45) for _ in range(points)]
    return tuple(
        (
            0.5 + radius * math.cos(2 * math.pi * index / points),
            0.5 + radius * math.sin(2 * math.pi * index / points),
        )
        for index, radius in enumerate(radii)
    )


@pytest.mark.parametrize("seed", range(5))
def test_zone_answers_as_plain_ray_casting(seed: int) -> None:
    # Given a jagged 100-point zone and a rectangle reaching the frame's edges
    generator = random.Random(seed)
    star = _star(100, seed)
    frame = ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0))
    for polygon in (star, frame):
        zone = Zone("yard", polygon)
        # random points, the vertices themselves, points halfway along edges and on the frame's edge
        points = [(generator.random(), generator.random()) for _ in range(2000)]
        points += list(polygon)
        points += [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(polygon)]
        points += [(generator.random(), 1.0) for _ in range(50)]
        for point in points:
            # Then the zone, asked twice, and the function answer as the reference does
            expected = _reference(point, polygon)
            assert point_in_polygon(point, polygon) is expected, point
            assert zone.contains(point) is expected, point
            assert zone.contains(point) is expected, point


def test_rules_sharing_a_zone_test_each_position_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 50 rules on one 100-point zone and three tracks in view
    polygon = [list(point) for point in _star(100, 1)]
    camera = CameraConfig.model_validate(
        {
            "id": "gate",
            "url": "rtsp://127.0.0.1/stream",
            "model": DETECTOR.name,
            "zones": [{"name": "yard", "polygon": polygon}],
            "rules": [{"name": f"rule-{index}", "zones": ["yard"], "min_frames": 1} for index in range(50)],
        }
    )
    engine = RuleEngine([camera_rules(camera)])
    tested: list[Point] = []

    def counted(point: Point, polygon: Sequence[Point]) -> bool:
        tested.append(point)
        return _reference(point, polygon)

    monkeypatch.setattr(geometry, "point_in_polygon", counted)
    tracks = tuple(
        Track(index, "person", 0.9, (0.45, 0.4, 0.55, 0.5 + index / 100), True, 0.0) for index in (1, 2, 3)
    )
    # When a frame is judged
    events = engine.process(FrameResult("gate", 1, 1.0, DETECTOR, (), tracks=tracks))
    # Then every rule started an event for every track, the zone having been tested once per track
    assert len(events) == 150
    assert sorted(tested) == sorted({(0.5, 0.5 + index / 100) for index in (1, 2, 3)})
