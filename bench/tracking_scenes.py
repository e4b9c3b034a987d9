"""The benchmark's scenes, each drawn from a seed: where the movers walk, the line, the zone.

Six scenes of 30 s (``SCENES``), each a test of one thing a tracker and the track rules must get
right: ``doorway`` (six people crossing a counting line, both ways, in three lanes), ``crossing``
(two pairs walking into and past each other, one drawn in front), ``pole`` (five people walking
behind a pole a little narrower than their faces: too hidden to be detected for about half a
second), ``stop-and-go`` (two people stop for 4..7 s mid-frame, one walks past), ``loiter`` (one
person walks a slow loop in the zone while three pass by, meeting it head on), ``crowd`` (five
people arrive one by one, stand side by side in the zone, then leave one by one). The seed moves
lanes, speeds, sizes, tints, times and the background.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.tracking_clips import HEIGHT, WIDTH, ClipSpec, Line, Mover, Point, Pole, RuleParameters, Waypoint

SCENES = ("doorway", "crossing", "pole", "stop-and-go", "loiter", "crowd")


@dataclass(frozen=True, slots=True)
class Layout:
    movers: list[Mover]
    line: Line
    zone: tuple[Point, ...]
    poles: tuple[Pole, ...] = ()
    rules: RuleParameters = field(default_factory=RuleParameters)


FACE_SIZES = (56, 64, 72, 80)
"""Face heights in pixels the movers are drawn at; see bench/results/tracking-sizes.md for the
detector's recall per size, measured before these were chosen."""


def _walk(start: Point, end: Point, t0: float, speed: float) -> tuple[Waypoint, Waypoint]:
    """Two waypoints for a straight walk at ``speed`` frame widths per second."""
    distance = math.hypot((end[0] - start[0]), (end[1] - start[1]) * HEIGHT / WIDTH)
    return Waypoint(t0, *start), Waypoint(t0 + distance / speed, *end)


def _path(t0: float, speed: float, *points: Point, pauses: Sequence[float] = ()) -> tuple[Waypoint, ...]:
    """Waypoints through ``points`` at ``speed``, pausing ``pauses[i]`` seconds at point i + 1."""
    waypoints = [Waypoint(t0, *points[0])]
    t = t0
    for index, (before, after) in enumerate(itertools.pairwise(points)):
        t = _walk(before, after, t, speed)[1].t
        waypoints.append(Waypoint(t, *after))
        if index < len(pauses) and pauses[index] > 0:
            t += pauses[index]
            waypoints.append(Waypoint(t, *after))
    return tuple(waypoints)


def _tint(rng: np.random.Generator) -> tuple[float, float, float]:
    gains = rng.uniform(0.8, 1.15, size=3)
    return (float(gains[0]), float(gains[1]), float(gains[2]))


def _line(x: float) -> Line:
    return Line("door", ((x, 0.0), (x, 1.0)), (1.0, 0.0))


def _doorway(rng: np.random.Generator) -> Layout:
    line_x = float(rng.uniform(0.4, 0.6))
    lanes = rng.permutation([0.45, 0.65, 0.85])
    movers = []
    t = 0.5
    for number in range(6):
        rightwards = number % 2 == 0
        y = float(lanes[number % 3])
        start, end = ((-0.1, y), (1.1, y)) if rightwards else ((1.1, y), (-0.1, y))
        speed = float(rng.uniform(0.12, 0.22))
        movers.append(
            Mover(
                f"m{number}",
                int(rng.choice(FACE_SIZES)),
                _path(t, speed, start, end),
                tint=_tint(rng),
                sway_px=2,
            )
        )
        t += float(rng.uniform(2.5, 4.5))
    zone = ((line_x, 0.3), (1.0, 0.3), (1.0, 1.0), (line_x, 1.0))
    return Layout(movers, _line(line_x), zone)


def _crossing(rng: np.random.Generator) -> Layout:
    movers = []
    for pair, t0 in enumerate((1.0, 14.0)):
        y = float(rng.uniform(0.55, 0.8))
        speed = float(rng.uniform(0.12, 0.2))
        size = int(rng.choice(FACE_SIZES))
        # The one in front walks a little lower (nearer the camera) and is drawn over the other.
        movers.append(
            Mover(f"p{pair}a", size, _path(t0, speed, (-0.1, y), (1.1, y)), depth=0, tint=_tint(rng))
        )
        movers.append(
            Mover(
                f"p{pair}b",
                size,
                _path(t0 + float(rng.uniform(-1, 1)), speed, (1.1, y + 0.04), (-0.1, y + 0.04)),
                depth=1,
                tint=_tint(rng),
            )
        )
    line_x = float(rng.choice([0.22, 0.78]))
    zone = ((0.3, 0.3), (0.7, 0.3), (0.7, 1.0), (0.3, 1.0))
    return Layout(movers, _line(line_x), zone)


def _pole(rng: np.random.Generator) -> Layout:
    pole_x = float(rng.uniform(0.42, 0.58))
    lanes = rng.permutation([0.5, 0.7, 0.9])
    movers = []
    t = 0.5
    for number in range(5):
        rightwards = number % 2 == 1
        y = float(lanes[number % 3])
        start, end = ((-0.1, y), (1.1, y)) if rightwards else ((1.1, y), (-0.1, y))
        speed = float(rng.uniform(0.22, 0.3))
        movers.append(
            Mover(f"m{number}", int(rng.choice(FACE_SIZES)), _path(t, speed, start, end), tint=_tint(rng))
        )
        t += float(rng.uniform(3.0, 5.0))
    line_x = pole_x - 0.25 if rng.random() < 0.5 else pole_x + 0.25
    zone = ((0.0, 0.3), (pole_x, 0.3), (pole_x, 1.0), (0.0, 1.0))
    return Layout(movers, _line(line_x), zone, poles=(Pole(pole_x, 50),))


def _stop_and_go(rng: np.random.Generator) -> Layout:
    movers = []
    for number, (t0, y) in enumerate(((1.0, 0.6), (9.0, 0.85), (15.0, 0.45))):
        rightwards = number != 1
        start, end = ((-0.1, y), (1.1, y)) if rightwards else ((1.1, y), (-0.1, y))
        stop_x = float(rng.uniform(0.3, 0.7))
        pause = float(rng.uniform(4.0, 7.0)) if number != 2 else 0.0
        movers.append(
            Mover(
                f"m{number}",
                int(rng.choice(FACE_SIZES)),
                _path(t0, float(rng.uniform(0.12, 0.2)), start, (stop_x, y), end, pauses=(pause,)),
                tint=_tint(rng),
                sway_px=1,
            )
        )
    zone = ((0.25, 0.3), (0.75, 0.3), (0.75, 1.0), (0.25, 1.0))
    return Layout(movers, _line(float(rng.uniform(0.75, 0.85))), zone)


def _loiter(rng: np.random.Generator) -> Layout:
    zone = ((0.3, 0.35), (0.75, 0.35), (0.75, 0.95), (0.3, 0.95))
    # Round a loop inside the zone (never back to where it was a few seconds ago, which would make
    # it briefly "stationary"), then out the way it came.
    left, right = float(rng.uniform(0.38, 0.42)), float(rng.uniform(0.62, 0.67))
    top, bottom = float(rng.uniform(0.55, 0.62)), float(rng.uniform(0.82, 0.9))
    corners = [(left, bottom), (right, bottom), (right, top), (left, top)]
    walk_in = _path(1.0, 0.12, (-0.1, bottom), corners[0])
    loop = _path(walk_in[-1].t, 0.06, *corners, corners[0], (right, bottom))
    walk_out = _path(loop[-1].t, 0.12, (right, bottom), (1.1, bottom))
    loiterer = Mover(
        "loiterer",
        int(rng.choice(FACE_SIZES)),
        (*walk_in, *loop[1:], *walk_out[1:]),
        tint=_tint(rng),
        sway_px=2,
    )
    passers = []
    for number, t0 in enumerate((3.0, 11.0, 19.0)):
        y = 0.5 if number % 2 else 0.92
        # Each passer meets the loiterer head on: walking its way, at nearly its speed, a passer in
        # front hid it for 1.6..2.3 s, longer than a tracker keeps a lost object (max_lost_s 1 s).
        start, end = ((-0.1, y), (1.1, y)) if number % 2 else ((1.1, y), (-0.1, y))
        passers.append(
            Mover(
                f"passer{number}",
                int(rng.choice(FACE_SIZES)),
                _path(t0, float(rng.uniform(0.18, 0.25)), start, end),
                depth=1 if y > 0.9 else -1,
                tint=_tint(rng),
            )
        )
    return Layout([loiterer, *passers], _line(0.85), zone)


def _crowd(rng: np.random.Generator) -> Layout:
    slots = [0.18, 0.34, 0.5, 0.66, 0.82]
    order = rng.permutation(len(slots))
    movers = []
    last_arrival = 0.0
    for number, slot_index in enumerate(order.tolist()):
        slot = (slots[slot_index], float(rng.uniform(0.5, 0.6)))
        side = -0.1 if slot[0] < 0.5 else 1.1
        lane = (slot[0], 0.97)
        t0 = 0.5 + 2.0 * number
        speed = float(rng.uniform(0.15, 0.22))
        leave_at = 17.0 + 1.5 * number
        walk_in = _path(t0, speed, (side, 0.97), lane, slot)
        pause = max(0.0, leave_at - walk_in[-1].t)
        movers.append(
            Mover(
                f"m{number}",
                int(rng.choice(FACE_SIZES[:3])),
                _path(t0, speed, (side, 0.97), lane, slot, lane, (side, 0.97), pauses=(0.0, pause)),
                depth=0,
                tint=_tint(rng),
                sway_px=2,
            )
        )
        last_arrival = max(last_arrival, walk_in[-1].t)
    zone = ((0.08, 0.3), (0.92, 0.3), (0.92, 0.75), (0.08, 0.75))
    return Layout(movers, Line("door", ((0.0, 0.81), (1.0, 0.81)), (0.0, -1.0)), zone)


_BUILDERS = {
    "doorway": _doorway,
    "crossing": _crossing,
    "pole": _pole,
    "stop-and-go": _stop_and_go,
    "loiter": _loiter,
    "crowd": _crowd,
}


def scene(name: str, seed: int) -> ClipSpec:
    """Scene ``name`` drawn with ``seed``: the same pair always gives the same clip."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown scene {name!r}; scenes: {', '.join(SCENES)}")
    rng = np.random.default_rng([seed, SCENES.index(name)])
    layout = _BUILDERS[name](rng)
    return ClipSpec(
        name=f"{name}-{seed}",
        scene=name,
        seed=int(rng.integers(0, 2**31)),
        movers=tuple(layout.movers),
        line=layout.line,
        zone=layout.zone,
        poles=layout.poles,
        rules=layout.rules,
    )
