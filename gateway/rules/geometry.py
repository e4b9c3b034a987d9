"""Zones, counting lines and where an object "is": normalised image coordinates (0..1, x right, y down).

An object's position is the bottom-centre of its box (where a person or vehicle touches the ground);
the whole box would put a tall person standing outside a fence "inside" it.

Line crossing. A track's position is on one side of the line (the sign of a cross product) or on it
(zero). A crossing is a change from one side to the other, judged from the last position that was
clearly on a side, so a position on the line neither counts nor hides a crossing: touching the line
and turning back is no crossing, and stepping onto it and then across is one. "On the line" is a band
either side of it as wide as the detector's jitter (``LINE_BAND``, ``Line.band``): an object
standing on a line has its box wobble a pixel or two from frame to frame, and judged by the exact
side, each wobble across was a crossing (five alerts, in, out, in, out, in, for one person stepping
over a doorway line and pausing on it). The move must also cross the segment itself, not the
infinite line through it, so passing beside a short doorway line is not counted. ``in`` when the
move ends on the side of the line that ``in_direction`` points to, else ``out``. For an
``in_direction`` square to the line that is the sign of the move's dot product with it; for an
oblique one (allowed, as long as it does not run along the line) the dot product was wrong for a
move that crossed nearly along the line: stepping over a door line drawn at 45 degrees from its
"out" side to its "in" side while walking mostly along it was an ``out``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gateway.domain import Box, Direction
from gateway.positions import EPSILON, Point, bottom_centre, point_in_polygon

LINE_BAND = 0.05
"""Half the width of the band along a line where a position is on the line rather than on a side,
as a share of the object's box measured square to the line (its width for an upright line, its
height for a level one): the detector's box jitter (the tracker's ``measurement_noise``), which
grows with the object as it nears the camera. A crossing is a move from beyond the band on one side
to beyond it on the other."""
ANSWERS_KEPT = 4096
"""Positions a zone remembers its answer for. Every rule naming the zone asks about the same track
positions on a frame: 200 rules on one camera, each answered anew, took 80 ms a frame for 20 tracks
on 100-point zones, 7 ms with the answers shared. The positions of a frame or two are all that is
ever asked again, so the memory is dropped whole when full."""


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    polygon: tuple[Point, ...]
    _bounds: tuple[float, float, float, float] = field(init=False, repr=False, compare=False)
    _answers: dict[Point, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        xs = [x for x, _ in self.polygon] or [math.inf]
        ys = [y for _, y in self.polygon] or [math.inf]
        bounds = (min(xs) - EPSILON, min(ys) - EPSILON, max(xs) + EPSILON, max(ys) + EPSILON)
        # Frozen: the derived fields are set once, here, as the dataclass's own __init__ would.
        object.__setattr__(self, "_bounds", bounds)
        object.__setattr__(self, "_answers", {})

    def contains(self, point: Point) -> bool:
        answer = self._answers.get(point)
        if answer is None:
            left, top, right, bottom = self._bounds
            x, y = point
            # Most positions are nowhere near most zones: outside the bounds, no edge need be looked at.
            answer = left <= x <= right and top <= y <= bottom and point_in_polygon(point, self.polygon)
            if len(self._answers) >= ANSWERS_KEPT:
                self._answers.clear()
            self._answers[point] = answer
        return answer

    def contains_box(self, box: Box) -> bool:
        return self.contains(bottom_centre(box))


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    start: Point
    end: Point
    in_direction: Point
    """A vector pointing to the line's ``in`` side: a move that crosses to that side crosses ``in``."""
    _in_side: int = field(init=False, repr=False, compare=False)
    """The side (``side``) ``in_direction`` points to; 0 when it runs along the line, where the
    move's dot product with it decides instead (config refuses such a line)."""

    def __post_init__(self) -> None:
        if abs(self.start[0] - self.end[0]) < EPSILON and abs(self.start[1] - self.end[1]) < EPSILON:
            raise ValueError(f"line {self.name!r}: its two points must differ")
        if abs(self.in_direction[0]) < EPSILON and abs(self.in_direction[1]) < EPSILON:
            raise ValueError(f"line {self.name!r}: in_direction must not be zero")
        (ax, ay), (bx, by), (dx, dy) = self.start, self.end, self.in_direction
        across = (bx - ax) * dy - (by - ay) * dx
        scale = math.hypot(bx - ax, by - ay) * math.hypot(dx, dy)
        in_side = 0 if abs(across) <= EPSILON * scale else (1 if across > 0 else -1)
        # Frozen: the derived field is set once, here, as the dataclass's own __init__ would.
        object.__setattr__(self, "_in_side", in_side)

    def side(self, point: Point, band: float = 0.0) -> int:
        """+1 or -1 for the two sides, 0 on the line (through the segment, extended) or within
        ``band`` of it (a distance in normalised units, measured square to the line)."""
        (ax, ay), (bx, by), (x, y) = self.start, self.end, point
        cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        # |cross| is the distance from the line times the segment's length.
        margin = max(EPSILON, band * math.hypot(bx - ax, by - ay))
        return 0 if abs(cross) <= margin else (1 if cross > 0 else -1)

    def band(self, box: Box) -> float:
        """The half-width of the band along the line where ``box``'s position is on the line
        (``LINE_BAND``). Normalised x and y are different lengths on a frame that is not square,
        so the box is measured along the line's normal in the same units as the distance to it."""
        (ax, ay), (bx, by) = self.start, self.end
        length = math.hypot(bx - ax, by - ay)
        width, height = max(0.0, box[2] - box[0]), max(0.0, box[3] - box[1])
        return LINE_BAND * (abs(by - ay) * width + abs(bx - ax) * height) / length

    def crossing(self, before: Point, after: Point) -> Direction | None:
        """The direction of a move from ``before`` to ``after`` (both clearly on a side) that crosses
        the segment, or None when it does not."""
        side_before, side_after = self.side(before), self.side(after)
        if side_before == 0 or side_after in (0, side_before):
            return None
        if not _move_meets_segment(before, after, self.start, self.end):
            return None
        if self._in_side != 0:
            return Direction.IN if side_after == self._in_side else Direction.OUT
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
