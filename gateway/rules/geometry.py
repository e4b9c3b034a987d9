"""Zones, counting lines and where an object "is": normalised image coordinates (0..1, x right, y down).

An object's position is the bottom-centre of its box (where a person or vehicle touches the ground);
the whole box would put a tall person standing outside a fence "inside" it.

Line crossing. A track's position is on one side of the line (the sign of a cross product) or on it
(zero). A crossing is a change from one side to the other, judged from the last position that was
clearly on a side, so a position exactly on the line neither counts nor hides a crossing: touching
the line and turning back is no crossing, and stepping onto it and then across is one. The move must
also cross the segment itself, not the infinite line through it, so passing beside a short doorway
line is not counted. ``in`` when the move has a positive dot product with the line's
``in_direction``, else ``out`` (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain import Box, Direction

Point = tuple[float, float]
EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    polygon: tuple[Point, ...]

    def contains(self, point: Point) -> bool:
        return point_in_polygon(point, self.polygon)

    def contains_box(self, box: Box) -> bool:
        return self.contains(bottom_centre(box))


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    start: Point
    end: Point
    in_direction: Point
    """A vector; a move with a positive dot product with it crosses ``in``."""

    def __post_init__(self) -> None:
        if abs(self.start[0] - self.end[0]) < EPSILON and abs(self.start[1] - self.end[1]) < EPSILON:
            raise ValueError(f"line {self.name!r}: its two points must differ")
        if abs(self.in_direction[0]) < EPSILON and abs(self.in_direction[1]) < EPSILON:
            raise ValueError(f"line {self.name!r}: in_direction must not be zero")

    def side(self, point: Point) -> int:
        """+1 or -1 for the two sides, 0 on the line (through the segment, extended)."""
        (ax, ay), (bx, by), (x, y) = self.start, self.end, point
        cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        return 0 if abs(cross) <= EPSILON else (1 if cross > 0 else -1)

    def crossing(self, before: Point, after: Point) -> Direction | None:
        """The direction of a move from ``before`` to ``after`` (both clearly on a side) that crosses
        the segment, or None when it does not."""
        side_before, side_after = self.side(before), self.side(after)
        if side_before == 0 or side_after in (0, side_before):
            return None
        if not _move_meets_segment(before, after, self.start, self.end):
            return None
        move = (after[0] - before[0], after[1] - before[1])
        dot = move[0] * self.in_direction[0] + move[1] * self.in_direction[1]
        return Direction.IN if dot > 0 else Direction.OUT


def _move_meets_segment(before: Point, after: Point, start: Point, end: Point) -> bool:
    """Whether the line through the move meets the segment start-end between its ends (inclusive).
    The move is known to change sides, so only the segment's own extent needs checking."""
    (px, py), (qx, qy) = before, after
    (ax, ay), (bx, by) = start, end
    side_a = (qx - px) * (ay - py) - (qy - py) * (ax - px)
    side_b = (qx - px) * (by - py) - (qy - py) * (bx - px)
    return side_a * side_b <= EPSILON


def bottom_centre(box: Box) -> Point:
    x1, _, x2, y2 = box
    return ((x1 + x2) / 2.0, y2)


def box_iou(first: Box, second: Box) -> float:
    ax1, ay1, ax2, ay2 = first
    bx1, by1, bx2, by2 = second
    width = min(ax2, bx2) - max(ax1, bx1)
    height = min(ay2, by2) - max(ay1, by1)
    if width <= 0 or height <= 0:
        return 0.0
    overlap = width * height
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - overlap
    return overlap / union if union > 0 else 0.0


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; points on an edge count as inside so a zone reaching the frame edge
    (y = 1, where bottom-centres of boxes touching the border lie) includes them."""
    x, y = point
    inside = False
    count = len(polygon)
    for index in range(count):
        ax, ay = polygon[index]
        bx, by = polygon[(index + 1) % count]
        if _on_segment(point, (ax, ay), (bx, by)):
            return True
        if (ay > y) != (by > y):
            crossing_x = ax + (y - ay) * (bx - ax) / (by - ay)
            if x < crossing_x:
                inside = not inside
    return inside


def _on_segment(point: Point, start: Point, end: Point) -> bool:
    (x, y), (ax, ay), (bx, by) = point, start, end
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    if abs(cross) > EPSILON:
        return False
    within_x = min(ax, bx) - EPSILON <= x <= max(ax, bx) + EPSILON
    return within_x and min(ay, by) - EPSILON <= y <= max(ay, by) + EPSILON
