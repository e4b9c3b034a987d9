"""Zones: named polygons in normalised image coordinates, and where a box "is" within them.

A box counts as inside a zone when its bottom-centre (where a person or vehicle touches the ground)
lies in the polygon; the whole box would put a tall person standing outside a fence "inside" it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.config import ZoneConfig
from gateway.domain import Box

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    polygon: tuple[Point, ...]

    @classmethod
    def from_config(cls, config: ZoneConfig) -> Zone:
        return cls(config.name, tuple((float(x), float(y)) for x, y in config.polygon))

    def contains(self, point: Point) -> bool:
        return point_in_polygon(point, self.polygon)

    def contains_box(self, box: Box) -> bool:
        return self.contains(bottom_centre(box))


def bottom_centre(box: Box) -> Point:
    x1, _, x2, y2 = box
    return ((x1 + x2) / 2.0, y2)


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
    if abs(cross) > 1e-12:
        return False
    return min(ax, bx) - 1e-12 <= x <= max(ax, bx) + 1e-12 and min(ay, by) - 1e-12 <= y <= max(ay, by) + 1e-12
