"""A camera's zones and counting lines, and the geometry that checks them: a zone's outline must
enclose an area and not cross itself, a line's in_direction must point across it."""

from __future__ import annotations

import math
from functools import lru_cache

from pydantic import Field, model_validator

from gateway.config.fields import Identifier, Number, Point, Section

MAX_ZONE_VERTICES = 100
"""Most vertices a zone may have: the self-crossing check compares every pair of edges."""
MIN_ZONE_AREA = 1e-6
"""Least area of a zone, as a share of the frame (about two pixels of a 1080p frame)."""
SAME_POINT = 1e-6
"""Normalised distance under which consecutive vertices are one, a repeat (a 250th of a pixel at 4K)."""
ON_EDGE = SAME_POINT / 2
"""Normalised distance under which a vertex touches an edge: a vertex placed on an edge is a few float
roundings off it, and an exact test would take it for touching or not as those fell. Half of SAME_POINT,
so a short edge kept as no repeat is never taken for touching the edge before it unless it turns back."""


class ZoneConfig(Section):
    name: Identifier
    polygon: list[Point] = Field(
        min_length=3,
        max_length=MAX_ZONE_VERTICES,
        description="Normalised (x, y) vertices; the outline must enclose an area and not cross itself.",
    )

    @model_validator(mode="after")
    def _encloses_an_area(self) -> ZoneConfig:
        # A degenerate zone would be accepted and then never contain a track's position.
        problem = polygon_problem(tuple(self.polygon))
        if problem is not None:
            raise ValueError(f"zone {self.name!r} {problem}")
        return self


def _cross(origin: Point, first: Point, second: Point) -> float:
    return (first[0] - origin[0]) * (second[1] - origin[1]) - (first[1] - origin[1]) * (second[0] - origin[0])


def _side(start: Point, end: Point, point: Point) -> int:
    """1 or -1: the side of the line through ``start`` and ``end`` (more than SAME_POINT apart) that
    ``point`` lies on; 0: on the line, within ON_EDGE."""
    distance = _cross(start, end, point) / math.dist(start, end)
    if abs(distance) <= ON_EDGE:
        return 0
    return 1 if distance > 0 else -1


def _within(start: Point, end: Point, point: Point) -> bool:
    """Whether ``point``, known to be on the line through ``start`` and ``end``, lies on the segment."""
    return all(
        min(start[axis], end[axis]) - ON_EDGE <= point[axis] <= max(start[axis], end[axis]) + ON_EDGE
        for axis in (0, 1)
    )


def _segments_meet(first: tuple[Point, Point], second: tuple[Point, Point]) -> bool:
    (a, b), (c, d) = first, second
    side_c, side_d = _side(a, b, c), _side(a, b, d)
    side_a, side_b = _side(c, d, a), _side(c, d, b)
    if side_c * side_d < 0 and side_a * side_b < 0:
        return True
    return (
        (side_c == 0 and _within(a, b, c))
        or (side_d == 0 and _within(a, b, d))
        or (side_a == 0 and _within(c, d, a))
        or (side_b == 0 and _within(c, d, b))
    )


def _twice_area(outline: list[Point]) -> float:
    """Twice the signed area of ``outline`` (the shoelace formula)."""
    return sum(
        outline[index - 1][0] * point[1] - point[0] * outline[index - 1][1]
        for index, point in enumerate(outline)
    )


def _hull_area(points: list[Point]) -> float:
    """The area of the convex hull of ``points`` (Andrew's monotone chain): no outline through them
    encloses more, whatever their order."""
    ordered = sorted(set(points))

    def half(chain_points: list[Point]) -> list[Point]:
        chain: list[Point] = []
        for point in chain_points:
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
        return chain[:-1]

    return abs(_twice_area(half(ordered) + half(ordered[::-1]))) / 2


def _without_repeats(polygon: tuple[Point, ...]) -> list[Point]:
    """The vertices of ``polygon`` less each one within SAME_POINT of the one kept before it, the
    outline being closed (a double click, or the first point repeated at the end)."""
    vertices: list[Point] = []
    for point in polygon:
        if not vertices or math.dist(point, vertices[-1]) > SAME_POINT:
            vertices.append(point)
    while len(vertices) > 1 and math.dist(vertices[-1], vertices[0]) <= SAME_POINT:
        vertices.pop()
    return vertices


def _format_point(point: Point) -> str:
    # Short where that is exact; in full where it is not, or two distinct points would print alike.
    return (
        "["
        + ", ".join(f"{value:g}" if float(f"{value:g}") == value else repr(value) for value in point)
        + "]"
    )


@lru_cache(maxsize=256)
def polygon_problem(polygon: tuple[Point, ...]) -> str | None:
    """What makes ``polygon`` unable to contain anything, or None; the verdict does not depend on
    which vertex comes first. Cached: one zone reused through a YAML alias is checked once."""
    vertices = _without_repeats(polygon)
    # Asked of the hull, which no vertex order changes (asked of the first edge, a short one made any
    # outline look flat): points on one line would otherwise be reported as crossing themselves.
    if len(vertices) < 3 or _hull_area(vertices) < MIN_ZONE_AREA:
        return "has no area: its points repeat or lie on one line"
    edges = [(vertices[index - 1], point) for index, point in enumerate(vertices)]
    # Two edges meet only where their bounds, widened by ON_EDGE, overlap: most pairs of a large
    # outline are apart, and skipping them made a 100-point zone's check ten times faster (5 to 0.5 ms).
    bounds = [
        (
            min(a[0], b[0]) - ON_EDGE,
            min(a[1], b[1]) - ON_EDGE,
            max(a[0], b[0]) + ON_EDGE,
            max(a[1], b[1]) + ON_EDGE,
        )
        for a, b in edges
    ]
    for first in range(len(edges)):
        left, top, right, bottom = bounds[first]
        # Edges next to each other share a vertex; the last edge is next to the first.
        for second in range(first + 2, len(edges) - (1 if first == 0 else 0)):
            other_left, other_top, other_right, other_bottom = bounds[second]
            if other_left > right or other_right < left or other_top > bottom or other_bottom < top:
                continue
            if _segments_meet(edges[first], edges[second]):
                (a, b), (c, d) = edges[first], edges[second]
                return (
                    f"crosses itself: the edge {_format_point(a)}-{_format_point(b)} meets the edge "
                    f"{_format_point(c)}-{_format_point(d)}; list the points in order around the outline"
                )
    # Checked after crossings: the two halves of a bowtie cancel out to no area.
    if abs(_twice_area(vertices)) / 2 < MIN_ZONE_AREA:
        return "has no area: its points repeat or lie on one line"
    return None


MIN_ACROSS = 0.02
"""Least sine of the angle between a line and its in_direction (about 1 degree)."""


class LineConfig(Section):
    name: Identifier
    points: tuple[Point, Point] = Field(description="The counting segment's two ends, normalised (x, y).")
    in_direction: tuple[Number, Number] = Field(
        description="A vector: a track whose move has a positive dot product with it crosses 'in'."
    )

    @model_validator(mode="after")
    def _not_degenerate(self) -> LineConfig:
        (ax, ay), (bx, by) = self.points
        if abs(ax - bx) < 1e-9 and abs(ay - by) < 1e-9:
            raise ValueError("the line's two points must differ")
        if abs(self.in_direction[0]) < 1e-9 and abs(self.in_direction[1]) < 1e-9:
            raise ValueError("in_direction must not be the zero vector")
        # Along the line, 'in' or 'out' would be decided by a crossing track's sideways drift.
        along = (bx - ax, by - ay)
        across = abs(along[0] * self.in_direction[1] - along[1] * self.in_direction[0])
        if across < MIN_ACROSS * math.hypot(*along) * math.hypot(*self.in_direction):
            raise ValueError(
                f"in_direction {list(self.in_direction)} runs along the line from {list(self.points[0])} "
                f"to {list(self.points[1])}; it must point across it, to the side a track enters"
            )
        return self
