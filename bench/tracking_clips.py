"""Generated camera clips with ground-truth tracks, for the tracking benchmark (numpy + cv2 only).

A clip is a fixed textured scene (gradient, blocks, lines, a noisy texture, a floor band) at 640x360
and 10 fps, across which "movers" walk along piecewise-linear paths: each mover is the astronaut's
head (``build/models/astronaut_head.png``, the face the demo clip shows) scaled so its face is
``face_px`` pixels high and pasted with a soft elliptical edge, with Gaussian sensor noise on every
frame. Poles are drawn in front of everything; a mover with a higher ``depth`` is drawn in front of
one with a lower depth. The same spec always renders the same frames.

Truth, per frame and mover: the face box as face-detector draws it on the pasted head (scaled from
``FACE_IN_HEAD``), normalised, and its visibility (the share of the face box not hidden by a pole,
a mover in front or the frame edge). Scene geometry: one counting line (two points and an
``in_direction``) and one zone polygon, normalised, and the rule parameters the truth is computed
with (``rule_truth``), by the definitions of DESIGN.md "Rules and tracks": an object's position is
the bottom-centre of its box.

The scenes themselves are in ``bench/tracking_scenes.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from bench.video_file import write_lossless

Image = npt.NDArray[np.uint8]
Point = tuple[float, float]
Box = tuple[float, float, float, float]

WIDTH, HEIGHT, FPS, DURATION_S = 640, 360, 10.0, 30.0
HEAD_IMAGE = Path(__file__).resolve().parent.parent / "build" / "models" / "astronaut_head.png"
FACE_IN_HEAD = (38, 63, 139, 160)
"""The face inside the head crop, in crop pixels (as build/demo_clip.py has it)."""
NOISE_SIGMA = 3.0
NOISE_FRAMES = 8


@dataclass(frozen=True, slots=True)
class Waypoint:
    t: float
    """Seconds from the start of the clip."""
    x: float
    y: float
    """The face box's bottom-centre, normalised (it may lie outside 0..1: off screen)."""


@dataclass(frozen=True, slots=True)
class Mover:
    name: str
    face_px: int
    """Height of the face box in pixels."""
    path: tuple[Waypoint, ...]
    """At least two waypoints with increasing times; the mover exists from the first to the last."""
    depth: int = 0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Gains on the head's B, G and R (skin tones, lighting)."""
    sway_px: float = 0.0
    """A slow horizontal sway, pixels, while it walks or stands (people are never still)."""

    def position(self, t: float) -> Point | None:
        path = self.path
        if t < path[0].t or t > path[-1].t:
            return None
        for before, after in itertools.pairwise(path):
            if before.t <= t <= after.t:
                share = 0.0 if after.t == before.t else (t - before.t) / (after.t - before.t)
                x = before.x + share * (after.x - before.x)
                y = before.y + share * (after.y - before.y)
                sway = self.sway_px * math.sin(2 * math.pi * (t - path[0].t) / 2.5) / WIDTH
                return (x + sway, y)
        return None


@dataclass(frozen=True, slots=True)
class Pole:
    x: float
    """Centre, normalised."""
    width_px: int


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    points: tuple[Point, Point]
    in_direction: Point


@dataclass(frozen=True, slots=True)
class RuleParameters:
    loiter_min_s: float = 8.0
    count_min: int = 4
    count_min_s: float = 2.0
    stationary_min_s: float = 3.0


@dataclass(frozen=True, slots=True)
class ClipSpec:
    name: str
    scene: str
    seed: int
    movers: tuple[Mover, ...]
    line: Line
    zone: tuple[Point, ...]
    poles: tuple[Pole, ...] = ()
    rules: RuleParameters = field(default_factory=RuleParameters)
    duration_s: float = DURATION_S
    fps: float = FPS
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def frame_count(self) -> int:
        return round(self.duration_s * self.fps)


@dataclass(frozen=True, slots=True)
class TruthObject:
    mover: str
    box: Box
    """The face box, normalised; may reach outside the frame while the mover enters or leaves."""
    visibility: float
    """Share of the face box visible: not behind a pole or a mover in front, and inside the frame."""


def face_box(
    mover: Mover, t: float, width: int = WIDTH, height: int = HEIGHT
) -> tuple[int, int, int, int] | None:
    """The face box in whole pixels (x1, y1, x2, y2) where the head is pasted at time t."""
    position = mover.position(t)
    if position is None:
        return None
    scale = mover.face_px / (FACE_IN_HEAD[3] - FACE_IN_HEAD[1])
    face_width = round((FACE_IN_HEAD[2] - FACE_IN_HEAD[0]) * scale)
    bottom = round(position[1] * height)
    left = round(position[0] * width - face_width / 2)
    return left, bottom - mover.face_px, left + face_width, bottom


class Clip:
    """Renders a ClipSpec: ``frames()`` yields BGR frames, ``truth(index)`` the objects on a frame."""

    def __init__(self, spec: ClipSpec) -> None:
        self.spec = spec
        self._background = background(np.random.default_rng(spec.seed), spec.height, spec.width)
        head = cv2.imread(str(HEAD_IMAGE), cv2.IMREAD_COLOR)
        if head is None:
            raise FileNotFoundError(f"cannot read the head image {HEAD_IMAGE}")
        self._head = np.asarray(head, dtype=np.float32)
        self._sprites: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}
        for mover in spec.movers:
            self._sprites[mover.name] = self._sprite(mover)
        self._order = sorted(spec.movers, key=lambda mover: mover.depth)

    def _sprite(self, mover: Mover) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        scale = mover.face_px / (FACE_IN_HEAD[3] - FACE_IN_HEAD[1])
        height, width = self._head.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(self._head, size, interpolation=cv2.INTER_AREA) * np.asarray(
            mover.tint, np.float32
        )
        mask = np.zeros((size[1], size[0]), dtype=np.float32)
        axes = (
            max(1, size[0] // 2 - max(1, round(6 * scale))),
            max(1, size[1] // 2 - max(1, round(4 * scale))),
        )
        cv2.ellipse(mask, (size[0] // 2, size[1] // 2), axes, 0, 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(mask, (0, 0), max(0.5, 4 * scale))
        return np.asarray(image, np.float32), np.asarray(alpha, np.float32)

    def _head_origin(self, mover: Mover, face: tuple[int, int, int, int]) -> tuple[int, int]:
        scale = mover.face_px / (FACE_IN_HEAD[3] - FACE_IN_HEAD[1])
        return face[0] - round(FACE_IN_HEAD[0] * scale), face[1] - round(FACE_IN_HEAD[1] * scale)

    def _layers(self, t: float) -> Iterator[tuple[Mover, tuple[int, int, int, int], int, int]]:
        """(mover, face box, head left, head top) of the movers present at t, back to front."""
        for mover in self._order:
            face = face_box(mover, t, self.spec.width, self.spec.height)
            if face is not None:
                yield (mover, face, *self._head_origin(mover, face))

    @cached_property
    def _pole_mask(self) -> npt.NDArray[np.bool_]:
        mask = np.zeros((self.spec.height, self.spec.width), dtype=bool)
        for pole in self.spec.poles:
            centre = round(pole.x * self.spec.width)
            mask[:, max(0, centre - pole.width_px // 2) : centre + (pole.width_px + 1) // 2] = True
        return mask

    def frames(self, start: int = 0) -> Iterator[Image]:
        spec = self.spec
        for index in range(start, spec.frame_count):
            canvas = self._background.copy()
            for mover, _, left, top in self._layers(index / spec.fps):
                sprite, alpha = self._sprites[mover.name]
                _blend(canvas, sprite, alpha, left, top)
            for pole in spec.poles:
                centre = round(pole.x * spec.width)
                x1, x2 = max(0, centre - pole.width_px // 2), centre + (pole.width_px + 1) // 2
                canvas[:, x1:x2] = self._pole_texture[:, x1:x2]
            canvas += self._noise[index % len(self._noise)]
            yield np.clip(canvas, 0, 255).astype(np.uint8)

    @cached_property
    def _noise(self) -> tuple[npt.NDArray[np.float32], ...]:
        """Sensor noise frames, cycled: drawing fresh noise for every frame doubled the time to write
        a clip, and the detector cannot tell."""
        rng = np.random.default_rng(self.spec.seed + 7_919)
        shape = (self.spec.height, self.spec.width, 3)
        return tuple(rng.standard_normal(shape, dtype=np.float32) * NOISE_SIGMA for _ in range(NOISE_FRAMES))

    @cached_property
    def _pole_texture(self) -> npt.NDArray[np.float32]:
        rng = np.random.default_rng(self.spec.seed + 31)
        rows = np.linspace(0.0, 1.0, self.spec.height, dtype=np.float32)[:, None, None]
        base = np.asarray(rng.uniform(40, 120, size=3), np.float32)
        texture = (
            base + 30 * rows + rng.normal(0, 6, (self.spec.height, self.spec.width, 1)).astype(np.float32)
        )
        return np.asarray(texture, np.float32)

    def truth(self, index: int) -> tuple[TruthObject, ...]:
        """The movers present on frame ``index`` with their face boxes and visibility."""
        spec = self.spec
        layers = list(self._layers(index / spec.fps))
        if not layers:
            return ()
        # Who owns each pixel: the front-most mover whose head covers it (alpha above one half), or
        # -1 for a pole or the background.
        owner = np.full((spec.height, spec.width), -1, dtype=np.int32)
        for number, (mover, _, left, top) in enumerate(layers):
            _, alpha = self._sprites[mover.name]
            region, inside = _clip_region(alpha.shape, left, top, spec.width, spec.height)
            if region is None:
                continue
            (y1, y2, x1, x2), (ay1, ay2, ax1, ax2) = region, inside
            covered = alpha[ay1:ay2, ax1:ax2] > 0.5
            owner[y1:y2, x1:x2][covered] = number
        owner[self._pole_mask] = -1
        objects = []
        for number, (mover, face, _, _) in enumerate(layers):
            x1, y1, x2, y2 = face
            area = max(1, (x2 - x1) * (y2 - y1))
            visible = owner[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] == number
            objects.append(
                TruthObject(
                    mover.name,
                    (x1 / spec.width, y1 / spec.height, x2 / spec.width, y2 / spec.height),
                    float(visible.sum()) / area,
                )
            )
        return tuple(objects)


def _clip_region(
    shape: tuple[int, ...], left: int, top: int, width: int, height: int
) -> tuple[tuple[int, int, int, int] | None, tuple[int, int, int, int]]:
    """The part of a sprite at (left, top) inside the frame: frame rows/cols, sprite rows/cols."""
    sprite_height, sprite_width = shape[:2]
    x1, y1 = max(0, left), max(0, top)
    x2, y2 = min(width, left + sprite_width), min(height, top + sprite_height)
    if x1 >= x2 or y1 >= y2:
        return None, (0, 0, 0, 0)
    return (y1, y2, x1, x2), (y1 - top, y2 - top, x1 - left, x2 - left)


def _blend(
    canvas: npt.NDArray[np.float32],
    sprite: npt.NDArray[np.float32],
    alpha: npt.NDArray[np.float32],
    left: int,
    top: int,
) -> None:
    region, inside = _clip_region(sprite.shape, left, top, canvas.shape[1], canvas.shape[0])
    if region is None:
        return
    (y1, y2, x1, x2), (ay1, ay2, ax1, ax2) = region, inside
    weight = alpha[ay1:ay2, ax1:ax2, None]
    target = canvas[y1:y2, x1:x2]
    target[:] = target * (1.0 - weight) + sprite[ay1:ay2, ax1:ax2] * weight


def background(rng: np.random.Generator, height: int, width: int) -> npt.NDArray[np.float32]:
    """A textured scene: a graded wall, blocks, lines, noisy patches and a floor band."""
    top, bottom = rng.uniform(40, 210, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(top + (bottom - top) * ramp, (height, width, 3)).astype(np.float32).copy()
    for _ in range(int(rng.integers(8, 16))):
        x1, x2 = sorted(rng.integers(0, width, size=2))
        y1, y2 = sorted(rng.integers(0, height, size=2))
        image[y1 : y2 + 1, x1 : x2 + 1] = rng.uniform(20, 235, size=3)
    for _ in range(int(rng.integers(4, 10))):
        start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(float(value) for value in rng.uniform(0, 255, size=3))
        cv2.line(image, start, end, colour, int(rng.integers(1, 5)))
    floor = int(height * rng.uniform(0.6, 0.75))
    image[floor:] = image[floor:] * 0.6 + rng.uniform(40, 160, size=3) * 0.4
    texture = cv2.GaussianBlur(rng.normal(0, 30, size=(height, width)).astype(np.float32), (0, 0), 1.5)
    mask = np.zeros((height, width), dtype=np.float32)
    for _ in range(5):
        x, y = int(rng.integers(0, width - 80)), int(rng.integers(0, height - 60))
        mask[y : y + int(rng.integers(30, 100)), x : x + int(rng.integers(40, 160))] = 1.0
    image += (texture * mask)[:, :, None]
    clipped: npt.NDArray[np.float32] = np.clip(image, 0, 255)
    return clipped


def write_video(clip: Clip, path: Path) -> int:
    """The clip as a lossless video (FFV1 in Matroska) at its frame rate; returns the frame count."""
    spec = clip.spec
    return write_lossless(clip.frames(), path, spec.fps, (spec.width, spec.height))
