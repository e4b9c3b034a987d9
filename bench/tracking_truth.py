"""The rule events a clip should raise, from its movers' true paths (DESIGN.md "Rules and tracks").

Computed at the clip's frame rate from where each mover really is (not from detections), with
geometry written here independently of ``gateway/`` so the truth does not share a bug with the code
it judges. An object's position is the bottom-centre of its face box. Every mover is one track of
one label; it is present from its first waypoint to its last (an occlusion does not end it: the
scenes keep every occlusion shorter than the tracker's default ``max_lost_s``, DESIGN.md's bound on
the misses a track survives; ``longest_occlusion`` measures it, a unit test holds the scenes to it).

- crossing: the position moves from one side of the line's segment to the other, through the
  segment itself (``crossings_of``: a position exactly on the line is on neither side); ``in`` when
  the move has a positive dot product with ``in_direction``, else ``out``; at the time of the first
  frame on the other side.
- loiter: a mover continuously inside the zone for at least ``loiter_min_s``: from entry +
  ``loiter_min_s`` to the first frame it is outside (or gone).
- count: at least ``count_min`` movers inside the zone at once for at least ``count_min_s``: from
  the start of that stretch + ``count_min_s`` to its end; ``max_count`` is the most present.
- loiter and count stretches whose length is within one sampling period (``sampling_s``, the
  camera's 1 / detect_fps) of the rule's ``min_s``, either way, are ``optional``: the gateway sees
  a stretch's ends on its sampled frames, each up to one period after the truth's, so it cannot
  tell 7.9 s from 8.0 s; an event there is allowed, not required. (Found on the tracking hold-out:
  a mover inside the loiter zone for exactly ``min_s``, a truth event of no duration.)
- stationary: a mover whose box has IoU >= 0.8 with its own box ``stationary_min_s`` earlier: from
  the first frame that holds to the first that does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.tracking_clips import Clip, ClipSpec, Mover, Point, face_box
from bench.tracking_metrics import VISIBLE, box_iou

STATIONARY_IOU = 0.8


@dataclass(frozen=True, slots=True)
class Crossing:
    mover: str
    t: float
    """Clip time (seconds from the clip's first frame) of the first frame past the line."""
    direction: str


@dataclass(frozen=True, slots=True)
class Interval:
    start_s: float
    end_s: float
    mover: str | None = None
    max_count: int | None = None
    optional: bool = False
    """The stretch is within one sampling period of the rule's ``min_s``: an event is allowed, not
    required."""


@dataclass(frozen=True, slots=True)
class RuleTruth:
    crossings: tuple[Crossing, ...]
    loiter: tuple[Interval, ...]
    count: tuple[Interval, ...]
    stationary: tuple[Interval, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "crossings": [asdict(crossing) for crossing in self.crossings],
            "crossings_in": sum(1 for crossing in self.crossings if crossing.direction == "in"),
            "crossings_out": sum(1 for crossing in self.crossings if crossing.direction == "out"),
            "loiter": [asdict(interval) for interval in self.loiter],
            "count": [asdict(interval) for interval in self.count],
            "stationary": [asdict(interval) for interval in self.stationary],
        }


def inside_polygon(point: Point, polygon: tuple[Point, ...]) -> bool:
    """Even-odd ray casting (the zones here are convex quadrilaterals; edges are never hit exactly)."""
    x, y = point
    inside = False
    for index, (ax, ay) in enumerate(polygon):
        bx, by = polygon[(index + 1) % len(polygon)]
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def _side(point: Point, start: Point, end: Point) -> float:
    return (end[0] - start[0]) * (point[1] - start[1]) - (end[1] - start[1]) * (point[0] - start[0])


def crossings_of(positions: list[Point | None], start: Point, end: Point) -> list[tuple[int, Point]]:
    """(frame index, move) of each time the positions pass through the segment start -> end.

    A position exactly on the line's extension belongs to neither side: the crossing is counted on
    the first frame on the other side, from the last position off the line, when that move passes
    through the segment (its end points included). Touching the line and turning back is none.
    """
    found: list[tuple[int, Point]] = []
    last: Point | None = None
    for index, position in enumerate(positions):
        if position is None:
            last = None
            continue
        side = _side(position, start, end)
        if side == 0.0:
            continue
        through = last is not None and _side(start, last, position) * _side(end, last, position) <= 0
        if last is not None and through and _side(last, start, end) * side < 0:
            found.append((index, (position[0] - last[0], position[1] - last[1])))
        last = position
    return found


def _positions(spec: ClipSpec, mover: Mover) -> list[Point | None]:
    """The mover's bottom-centre on every frame, from its whole-pixel face box (as drawn)."""
    positions: list[Point | None] = []
    for index in range(spec.frame_count):
        box = face_box(mover, index / spec.fps, spec.width, spec.height)
        positions.append(None if box is None else ((box[0] + box[2]) / 2 / spec.width, box[3] / spec.height))
    return positions


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(first, after-last) frame indices of each run of True."""
    runs, start = [], None
    for index, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index))
            start = None
    return runs


def qualifies(length_s: float, min_s: float, sampling_s: float) -> tuple[bool, bool]:
    """(an event is possible, it is optional) for a stretch of ``length_s`` against ``min_s``."""
    optional = abs(length_s - min_s) < sampling_s
    return length_s >= min_s or optional, optional


def rule_truth(spec: ClipSpec, sampling_s: float) -> RuleTruth:
    """The clip's rule truth for a camera that samples a frame every ``sampling_s`` seconds."""
    fps, rules = spec.fps, spec.rules
    start, end = spec.line.points
    crossings: list[Crossing] = []
    loiter: list[Interval] = []
    stationary: list[Interval] = []
    present_inside = [0] * spec.frame_count
    for mover in spec.movers:
        positions = _positions(spec, mover)
        for index, move in crossings_of(positions, start, end):
            dot = move[0] * spec.line.in_direction[0] + move[1] * spec.line.in_direction[1]
            crossings.append(Crossing(mover.name, index / fps, "in" if dot > 0 else "out"))
        inside = [position is not None and inside_polygon(position, spec.zone) for position in positions]
        for index, flag in enumerate(inside):
            present_inside[index] += flag
        for first, after_last in _runs(inside):
            possible, optional = qualifies((after_last - first) / fps, rules.loiter_min_s, sampling_s)
            if possible:
                loiter.append(
                    Interval(
                        first / fps + rules.loiter_min_s, after_last / fps, mover.name, optional=optional
                    )
                )
        still = []
        for index in range(spec.frame_count):
            now = face_box(mover, index / fps, spec.width, spec.height)
            then = face_box(mover, index / fps - rules.stationary_min_s, spec.width, spec.height)
            still.append(
                now is not None
                and then is not None
                and box_iou(tuple(map(float, now)), tuple(map(float, then))) >= STATIONARY_IOU  # type: ignore[arg-type]
            )
        stationary += [
            Interval(first / fps, after_last / fps, mover.name) for first, after_last in _runs(still)
        ]
    count = []
    for first, after_last in _runs([number >= rules.count_min for number in present_inside]):
        possible, optional = qualifies((after_last - first) / fps, rules.count_min_s, sampling_s)
        if possible:
            count.append(
                Interval(
                    first / fps + rules.count_min_s,
                    after_last / fps,
                    None,
                    max(present_inside[first:after_last]),
                    optional,
                )
            )
    return RuleTruth(
        tuple(sorted(crossings, key=lambda crossing: crossing.t)),
        tuple(loiter),
        tuple(count),
        tuple(stationary),
    )


def longest_occlusion(clip: Clip) -> tuple[float, str, float]:
    """(seconds, mover, from when) of the longest stretch any mover is less than ``VISIBLE`` visible
    between its first and last visible frame (entering and leaving the frame do not count)."""
    spec = clip.spec
    visibility: dict[str, list[float]] = {mover.name: [0.0] * spec.frame_count for mover in spec.movers}
    for index in range(spec.frame_count):
        for item in clip.truth(index):
            visibility[item.mover][index] = item.visibility
    longest = (0.0, "", 0.0)
    for mover, values in visibility.items():
        visible = [index for index, value in enumerate(values) if value >= VISIBLE]
        if not visible:
            continue
        hidden = [value < VISIBLE for value in values[visible[0] : visible[-1] + 1]]
        for first, after_last in _runs(hidden):
            length = (after_last - first) / spec.fps
            if length > longest[0]:
                longest = (length, mover, (visible[0] + first) / spec.fps)
    return longest
