"""A zone's self-crossing check skips pairs of edges whose bounds are apart: it must give every outline
the verdict, word for word, of comparing every pair of edges exactly."""

from __future__ import annotations

import math
import random

import pytest

from gateway.config import zones
from gateway.config.fields import Point


def _every_pair(polygon: tuple[Point, ...]) -> str | None:
    """The check as it was: every pair of edges that are not neighbours, in order."""
    vertices = zones._without_repeats(polygon)
    if len(vertices) < 3 or zones._hull_area(vertices) < zones.MIN_ZONE_AREA:
        return "has no area: its points repeat or lie on one line"
    edges = [(vertices[index - 1], point) for index, point in enumerate(vertices)]
    for first in range(len(edges)):
        for second in range(first + 2, len(edges) - (1 if first == 0 else 0)):
            if zones._segments_meet(edges[first], edges[second]):
                (a, b), (c, d) = edges[first], edges[second]
                return (
                    f"crosses itself: the edge {zones._format_point(a)}-{zones._format_point(b)} meets the "
                    f"edge {zones._format_point(c)}-{zones._format_point(d)}; list the points in order "
                    "around the outline"
                )
    if abs(zones._twice_area(vertices)) / 2 < zones.MIN_ZONE_AREA:
        return "has no area: its points repeat or lie on one line"
    return None


def _outlines(seed: int) -> list[tuple[Point, ...]]:
    generator = random.Random(seed)
    outlines: list[tuple[Point, ...]] = []
    for _ in range(300):
        # Random points: most cross themselves somewhere
        count = generator.randint(3, 12)
        outlines.append(tuple((generator.random(), generator.random()) for _ in range(count)))
        # Points on a coarse grid: vertices on other edges, edges along each other, repeats
        grid = [(generator.randint(0, 4) / 4, generator.randint(0, 4) / 4) for _ in range(count)]
        outlines.append(tuple(grid))
        # and moved by just under the tolerance: touching or not is decided within ON_EDGE
        nudge = [-0.9 * zones.ON_EDGE, 0.0, 0.9 * zones.ON_EDGE]
        outlines.append(tuple((x + generator.choice(nudge), y + generator.choice(nudge)) for x, y in grid))
    for _ in range(20):
        # Large outlines around a centre, that cross themselves only where a point is swapped
        count = generator.randint(20, 100)
        radii = [generator.uniform(0.1, 0.45) for _ in range(count)]
        points = [
            (
                0.5 + radius * math.cos(2 * math.pi * index / count),
                0.5 + radius * math.sin(2 * math.pi * index / count),
            )
            for index, radius in enumerate(radii)
        ]
        outlines.append(tuple(points))
        swap = generator.randrange(count - 2)
        points[swap], points[swap + 2] = points[swap + 2], points[swap]
        outlines.append(tuple(points))
    return outlines


@pytest.mark.parametrize("seed", range(3))
def test_the_check_answers_as_comparing_every_pair(seed: int) -> None:
    verdicts = []
    for outline in _outlines(seed):
        verdict = zones.polygon_problem.__wrapped__(outline)
        assert verdict == _every_pair(outline), outline
        verdicts.append(verdict)
    # The outlines cover every verdict: fine, crossing, and no area
    assert None in verdicts
    assert any(verdict is not None and verdict.startswith("crosses itself") for verdict in verdicts)
    assert any(verdict is not None and verdict.startswith("has no area") for verdict in verdicts)
