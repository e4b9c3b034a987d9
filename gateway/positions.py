"""Where an object is in the frame (normalised: 0..1, x right, y down): its position, the bottom centre
of its box (where a person or vehicle touches the ground), and whether a point lies within an outline.
The rules judge zones by it, and motion gating asks it which objects a rule could still follow."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]
EPSILON = 1e-12


def bottom_centre(box: tuple[float, float, float, float]) -> Point:
    x1, _, x2, y2 = box
    return ((x1 + x2) / 2.0, y2)


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; points on an edge count as inside so a zone reaching the frame edge
    (y = 1, where bottom-centres of boxes touching the border lie) includes them."""
    if not polygon:
        return False
    x, y = point
    inside = False
    ax, ay = polygon[-1]
    # Each edge runs from the vertex before to the next one, the closing edge first; the edge test is
    # written out here rather than called, as a call per edge was most of the cost of a large zone.
    for bx, by in polygon:
        cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        if (
            abs(cross) <= EPSILON
            and min(ax, bx) - EPSILON <= x <= max(ax, bx) + EPSILON
            and min(ay, by) - EPSILON <= y <= max(ay, by) + EPSILON
        ):
            return True
        if (ay > y) != (by > y):
            crossing_x = ax + (y - ay) * (bx - ax) / (by - ay)
            if x < crossing_x:
                inside = not inside
        ax, ay = bx, by
    return inside
