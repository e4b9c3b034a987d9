"""Labelled synthetic camera clips for the anomaly accuracy benchmark (numpy + cv2 only).

Each clip is a fixed scene (procedural background: gradients, blocks, lines, textured patches, and
optionally a "foliage" patch that changes every frame) under slow lighting drift (global gain,
colour temperature and a moving left-right gradient), with Gaussian sensor noise, and optionally
auto-exposure steps (sudden whole-frame gain jumps), camera shake (whole-pixel jitter) and JPEG
compression (block artefacts like a camera's encoder). After a normal
enrollment part, objects (ellipses or boxes, plain or striped, of different sizes and speeds) cross
the scene or walk in and stop; the ground truth is the frame interval in which at least
``VISIBLE_SHARE`` of an object's area is inside the frame. Objects are rendered before lighting and
noise, so they drift with the scene like real ones.

Frames are generated lazily (a 10-minute clip would not fit in memory as one array); the same spec
always yields the same frames. ``write_video`` stores a part of a clip as a file a gateway camera can
play: FFV1 in Matroska, which is lossless (decoded frames are bit-identical to the generated ones, so
the camera shows exactly what enrollment saw) and carries the clip's frame rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
VISIBLE_SHARE = 0.2
MIN_CONTRAST = 60.0
"""Object colours closer than this (Euclidean, BGR) to the scene's mean colour are re-drawn: a
grey object on a grey wall is invisible to any camera-side method and is not what the test is about."""


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    start_s: float
    size: float
    """Object height as a share of the frame height."""
    speed: float
    """Frame widths per second."""
    stops: bool = False
    """Walks in from the left edge and stays still (until it leaves after ``dwell_s``)."""
    dwell_s: float = 4.0
    striped: bool = False
    ellipse: bool = True


@dataclass(frozen=True, slots=True)
class ClipSpec:
    name: str
    seed: int
    duration_s: float
    enroll_s: float
    fps: float = 10.0
    width: int = 320
    height: int = 180
    noise: float = 4.0
    """Sensor noise standard deviation, grey levels."""
    drift: float = 0.3
    """Amplitude of the log global gain (0.3: about 0.74x to 1.35x)."""
    drift_period_s: float = 40.0
    foliage: bool = False
    exposure_steps: bool = False
    """Sudden +-12% whole-frame gain jumps every ~15 s, as auto exposure does."""
    shake_px: int = 0
    """Camera jitter: each frame shifted by up to this many pixels."""
    jpeg_quality: int | None = None
    objects: tuple[ObjectSpec, ...] = field(default_factory=tuple)

    @property
    def frame_count(self) -> int:
        return round(self.duration_s * self.fps)

    @property
    def enroll_frames(self) -> int:
        return round(self.enroll_s * self.fps)


@dataclass(frozen=True, slots=True)
class Interval:
    start: int
    end: int
    """Inclusive frame indices."""


def _background(rng: np.random.Generator, height: int, width: int) -> npt.NDArray[np.float32]:
    top, bottom = rng.uniform(30, 220, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(top + (bottom - top) * ramp, (height, width, 3)).astype(np.float32).copy()
    for _ in range(int(rng.integers(6, 14))):
        x1, x2 = sorted(rng.integers(0, width, size=2))
        y1, y2 = sorted(rng.integers(0, height, size=2))
        image[y1 : y2 + 1, x1 : x2 + 1] = rng.uniform(20, 235, size=3)
    for _ in range(int(rng.integers(3, 8))):
        start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(float(value) for value in rng.uniform(0, 255, size=3))
        cv2.line(image, start, end, colour, int(rng.integers(1, 4)))
    texture = cv2.GaussianBlur(rng.normal(0, 40, size=(height, width)).astype(np.float32), (0, 0), 1.5)
    mask = np.zeros((height, width), dtype=np.float32)
    for _ in range(3):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 30))
        mask[y : y + int(rng.integers(15, 50)), x : x + int(rng.integers(20, 80))] = 1.0
    image += (texture * mask)[:, :, None]
    clipped: npt.NDArray[np.float32] = np.clip(image, 0, 255)
    return clipped


@dataclass(frozen=True, slots=True)
class _Track:
    spec: ObjectSpec
    colour: tuple[float, float, float]
    height: int
    width: int
    y: int
    direction: int


class Clip:
    """A generated clip: ``frames()`` yields BGR uint8 frames; ``events`` are the ground truth."""

    def __init__(self, spec: ClipSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        self._scene = _background(rng, spec.height, spec.width)
        self._phases = rng.uniform(0, 2 * math.pi, size=6)
        self._steps = rng.choice([-1.0, 0.0, 1.0], size=64)
        mean_colour = self._scene.reshape(-1, 3).mean(axis=0)
        tracks = []
        for obj in spec.objects:
            colour = rng.uniform(0, 255, size=3)
            while float(np.linalg.norm(colour - mean_colour)) < MIN_CONTRAST:
                colour = rng.uniform(0, 255, size=3)
            height = max(4, int(obj.size * spec.height))
            width = max(4, int(height * rng.uniform(0.4, 1.2)))
            y = int(rng.integers(0, max(1, spec.height - height)))
            tracks.append(
                _Track(obj, (float(colour[0]), float(colour[1]), float(colour[2])), height, width, y, 1)
            )
        self._tracks = tuple(tracks)
        self._foliage = (
            (int(rng.integers(0, spec.width - 60)), int(rng.integers(0, spec.height - 40)))
            if spec.foliage
            else None
        )
        self.events = tuple(self._interval(track) for track in self._tracks)

    def _x(self, track: _Track, t: float) -> float | None:
        """Left edge of the object at time t, or None when it has not started or has left."""
        elapsed = t - track.spec.start_s
        if elapsed < 0:
            return None
        speed_px = track.spec.speed * self.spec.width
        x = -track.width + speed_px * elapsed
        if track.spec.stops:
            stop_x = self.spec.width * 0.4
            arrival = (stop_x + track.width) / speed_px
            if elapsed <= arrival:
                return x
            if elapsed <= arrival + track.spec.dwell_s:
                return stop_x
            x = stop_x + speed_px * (elapsed - arrival - track.spec.dwell_s)
        return x if x < self.spec.width else None

    def _visible_share(self, track: _Track, t: float) -> float:
        x = self._x(track, t)
        if x is None:
            return 0.0
        inside = max(0.0, min(x + track.width, self.spec.width) - max(x, 0.0))
        return inside / track.width

    def _interval(self, track: _Track) -> Interval:
        visible = [
            index
            for index in range(self.spec.frame_count)
            if self._visible_share(track, index / self.spec.fps) >= VISIBLE_SHARE
        ]
        if not visible:
            raise ValueError(
                f"{self.spec.name}: an object starting at {track.spec.start_s}s is never visible"
            )
        return Interval(visible[0], visible[-1])

    def _lighting(self, t: float) -> tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        spec, phase = self.spec, self._phases
        period = spec.drift_period_s
        gain = math.exp(
            spec.drift
            * (
                0.7 * math.sin(2 * math.pi * t / period + phase[0])
                + 0.3 * math.sin(2 * math.pi * t / (period / 3.7) + phase[1])
            )
        )
        colour = np.exp(
            0.04 * np.sin(2 * math.pi * t / (period * 1.3) + phase[2:5]), dtype=np.float32
        ).astype(np.float32)
        tilt = 0.06 * math.sin(2 * math.pi * t / (period * 0.8) + phase[5])
        gradient = (1.0 + tilt * np.linspace(-1.0, 1.0, spec.width, dtype=np.float32))[None, :, None]
        return gain, colour, gradient.astype(np.float32)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Image]:
        spec = self.spec
        rng = np.random.default_rng(spec.seed + 1_000_003 + start)
        for index in range(start, spec.frame_count if stop is None else min(stop, spec.frame_count)):
            t = index / spec.fps
            image = self._scene.copy()
            if self._foliage is not None:
                x, y = self._foliage
                sway = cv2.GaussianBlur(rng.normal(0, 35, size=(40, 60)).astype(np.float32), (0, 0), 1.0)
                image[y : y + 40, x : x + 60] += sway[:, :, None]
            for track in self._tracks:
                left = self._x(track, t)
                if left is None:
                    continue
                self._draw(image, track, round(left))
            gain, colour, gradient = self._lighting(t)
            if spec.exposure_steps:
                gain *= 1.0 + 0.12 * float(self._steps[int(t // 15.0) % len(self._steps)])
            image = image * (gain * colour) * gradient
            if spec.shake_px:
                dx, dy = rng.integers(-spec.shake_px, spec.shake_px + 1, size=2)
                image = np.roll(image, (int(dy), int(dx)), axis=(0, 1))
            image += rng.normal(0, spec.noise, size=image.shape).astype(np.float32)
            frame = np.clip(image, 0, 255).astype(np.uint8)
            if spec.jpeg_quality is not None:
                ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
                assert ok
                frame = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), dtype=np.uint8)
            yield frame

    def _draw(self, image: npt.NDArray[np.float32], track: _Track, left: int) -> None:
        top, right, bottom = track.y, left + track.width, track.y + track.height
        if track.spec.ellipse:
            centre = ((left + right) // 2, (top + bottom) // 2)
            axes = (track.width // 2, track.height // 2)
            cv2.ellipse(image, centre, axes, 0, 0, 360, track.colour, -1)
        else:
            cv2.rectangle(image, (left, top), (right, bottom), track.colour, -1)
        if track.spec.striped:
            for y in range(top, bottom, 6):
                cv2.line(image, (left, y), (right, y), tuple(value * 0.5 for value in track.colour), 2)


def write_video(clip: Clip, path: Path, start: int = 0) -> int:
    """Frames ``start..`` of ``clip`` as a lossless video at the clip's frame rate; returns the count."""
    spec = clip.spec
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"FFV1"), spec.fps, (spec.width, spec.height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write FFV1 video to {path}")
    count = 0
    try:
        for frame in clip.frames(start):
            writer.write(frame)
            count += 1
    finally:
        writer.release()
    return count


def _objects(rng: np.random.Generator, first_s: float, last_s: float, gap_s: float) -> tuple[ObjectSpec, ...]:
    """Objects spaced so consecutive events never overlap (one event per object)."""
    objects = []
    t = first_s
    while t < last_s:
        size = float(rng.choice([0.08, 0.12, 0.2, 0.3, 0.45]))
        speed = float(rng.choice([0.1, 0.2, 0.35, 0.6, 1.0]))
        stops = bool(rng.random() < 0.3)
        spec = ObjectSpec(
            start_s=t,
            size=size,
            speed=speed,
            stops=stops,
            dwell_s=float(rng.uniform(2, 5)),
            striped=bool(rng.random() < 0.4),
            ellipse=bool(rng.random() < 0.6),
        )
        objects.append(spec)
        crossing = (1.0 + 0.6) / speed + (spec.dwell_s if stops else 0.0)
        t += crossing + gap_s + float(rng.uniform(0, 3))
    return tuple(objects)


def clip_set(quick: bool) -> tuple[ClipSpec, ...]:
    """The benchmark's clips: varied scenes, noise, drift, sizes and speeds, plus the drift-only clip.

    quick: six 45-second clips and a 90-second drift clip at 2 fps (for CI); full: sixteen 2-minute
    clips and the 10-minute drift clip at 2 fps. All at 10 fps unless said otherwise. Clips play in
    real time after their 15 s (drift: 30 s) enrollment part, all at once, so the drift clip sets
    the running time.
    """
    count, duration = (6, 45.0) if quick else (16, 120.0)
    specs = []
    for index in range(count):
        rng = np.random.default_rng(100 + index)
        enroll_s = 15.0
        specs.append(
            ClipSpec(
                name=f"scene-{index:02d}",
                seed=100 + index,
                duration_s=duration,
                enroll_s=enroll_s,
                noise=float(rng.choice([2.0, 4.0, 8.0])),
                drift=float(rng.choice([0.1, 0.25, 0.4])),
                drift_period_s=float(rng.uniform(30, 90)),
                foliage=index % 3 == 1,
                exposure_steps=index % 2 == 1,
                shake_px=int(rng.choice([0, 0, 1])),
                jpeg_quality=None if index % 4 == 0 else int(rng.choice([50, 70, 90])),
                objects=_objects(rng, enroll_s + 3.0, duration - 8.0, gap_s=4.0),
            )
        )
    specs.append(
        ClipSpec(
            name="drift-only-90s" if quick else "drift-only-10min",
            seed=7,
            duration_s=90.0 if quick else 600.0,
            enroll_s=30.0,
            fps=2.0,
            noise=4.0,
            drift=0.4,
            exposure_steps=True,
            shake_px=1,
            jpeg_quality=70,
            drift_period_s=150.0,
            foliage=True,
        )
    )
    return tuple(specs)
