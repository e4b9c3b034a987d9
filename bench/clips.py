"""Labelled synthetic camera clips for the anomaly accuracy benchmark (numpy + cv2 only).

A clip is a fixed scene (a background family, optionally with normal motion: foliage, a flickering
lamp, a swaying branch, water) under a lighting family that drifts, seen by a camera that adds
exposure steps, whole-pixel shake, sensor noise and lossy compression. After a normal enrollment
part, objects (sprites of several shapes, sizes and contrasts, motion-blurred by the shutter) cross
the scene, or walk in, stop and leave. The ground truth is the frame interval in which at least
``VISIBLE_SHARE`` of an object's width is inside the frame (``events``); ``presence`` is the longer
interval in which any part of it is. Objects are drawn before the lighting
and the camera, so they drift with the scene like real ones. The families are in
``scene_families.py``; which clips use which is in ``clip_sets.py``.

Frames are generated lazily, so a caller holds only the frames it keeps (the accuracy benchmark
keeps a whole clip: 207 MB for a 10-minute drift clip at 2 fps, 259 MB for its largest); frame ``i``
of a spec is always the same, whatever range is asked for. ``video_file.write_lossless`` stores a
part of a clip as a file a gateway camera can play: FFV1 in Matroska, which is lossless (decoded
frames are bit-identical to the generated ones, so the camera shows exactly what enrollment saw) and
carries the clip's frame rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from bench.scene_families import ASPECT, Float, Sprite, background, motion_blur, paste, sprite
from bench.scene_motion import Lighting, NormalMotion

Image = npt.NDArray[np.uint8]
VISIBLE_SHARE = 0.2
MIN_CONTRAST = 60.0
"""Objects without a set contrast get a colour at least this far (Euclidean, BGR) from the ground
they cross; low-contrast objects say their luma difference in ``ObjectSpec.contrast`` instead."""
SHOT_NOISE = 0.12
"""``noise: shot``: variance grows by this many grey levels squared per grey level of signal."""


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    start_s: float
    area: float
    """Share of the frame's area the object's box covers (height capped at 95% of the frame)."""
    speed: float
    """Frame widths per second while moving."""
    shape: str = "ellipse"
    contrast: float | None = None
    """Luma difference from the mean of the ground it crosses, grey levels (signed); None: a random
    colour at least ``MIN_CONTRAST`` away."""
    textured: bool = False
    leftward: bool = False
    stops: bool = False
    """Walks in, stays still for ``dwell_s``, then walks on and leaves."""
    dwell_s: float = 4.0


@dataclass(frozen=True, slots=True)
class ClipSpec:
    name: str
    seed: int
    duration_s: float
    enroll_s: float
    fps: float = 10.0
    width: int = 320
    height: int = 180
    background: str = "blocks"
    motions: tuple[str, ...] = ()
    """Normal motion families present all the time (see scene_families.MOTIONS)."""
    motion_strength: float = 1.0
    """How hard the normal motions move (foliage's leaf contrast, the lamp's jumps), 1 = as drawn."""
    lighting: str = "sine-tilt"
    drift: float = 0.3
    """Amplitude of the log global gain (0.3: about 0.74x to 1.35x)."""
    drift_period_s: float = 40.0
    exposure_steps: str | None = None
    """``periodic``: each ``exposure_every_s`` window at 1, 1 + or 1 - ``exposure_step`` (drawn);
    ``random``: 5-20% jumps at random times."""
    exposure_step: float = 0.12
    exposure_every_s: float = 15.0
    shake_px: int = 0
    """Camera jitter: each frame shifted by up to this many pixels."""
    noise_kind: str = "gaussian"
    """``gaussian``: constant deviation ``noise``; ``shot``: ``noise`` plus signal-dependent noise."""
    noise: float = 4.0
    noise_gain: float = 0.0
    """A camera that raises its gain as the light falls: the noise's deviation is multiplied by
    ``(1 / light) ** noise_gain`` where the light (global gain times exposure) is under 1."""
    colour_drift: float = 0.0
    """Amplitude (log) of a slow colour-temperature shift, blue against red; 0: none."""
    compression: str | None = None
    """``jpeg`` or ``webp`` at ``quality``; None: none."""
    quality: int = 80
    shutter: float = 0.5
    """Share of the frame interval the shutter is open: moving objects are smeared that far."""
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


@dataclass(frozen=True, slots=True)
class _Track:
    spec: ObjectSpec
    still: Sprite
    moving: Sprite
    y: int

    @property
    def width(self) -> int:
        return self.still.width


class Clip:
    """A generated clip: ``frames()`` yields BGR uint8 frames; ``events`` are the ground truth."""

    def __init__(self, spec: ClipSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        self._scene = background(spec.background, rng, spec.height, spec.width)
        self._motions = tuple(
            NormalMotion(kind, rng, spec.height, spec.width, strength=spec.motion_strength)
            for kind in spec.motions
        )
        self._lighting = Lighting(
            spec.lighting,
            rng,
            (spec.height, spec.width),
            drift=spec.drift,
            period_s=spec.drift_period_s,
            colour_drift=spec.colour_drift,
        )
        self._steps = self._exposure_levels(rng)
        self._tracks = tuple(self._track(obj, rng) for obj in spec.objects)
        self.events = tuple(self._interval(track, VISIBLE_SHARE) for track in self._tracks)
        self.presence = tuple(self._interval(track, 1e-9) for track in self._tracks)
        """Per object, the frames in which any part of it is inside: an alert there is not false."""

    def _exposure_levels(self, rng: np.random.Generator) -> list[tuple[float, float]]:
        """(time, gain) steps, each holding until the next."""
        spec = self.spec
        if spec.exposure_steps is None:
            return [(0.0, 1.0)]
        if spec.exposure_steps == "periodic":
            every, size = spec.exposure_every_s, spec.exposure_step
            choices = rng.choice([-1.0, 0.0, 1.0], size=int(spec.duration_s // every) + 1)
            return [(every * index, 1.0 + size * float(step)) for index, step in enumerate(choices)]
        if spec.exposure_steps != "random":
            raise ValueError(f"unknown exposure steps {spec.exposure_steps!r}")
        steps, t, level = [(0.0, 1.0)], 0.0, 0.0
        while t < spec.duration_s:
            t += float(rng.exponential(20.0))
            level = float(np.clip(level + rng.choice([-1, 1]) * rng.uniform(0.05, 0.2), -0.25, 0.25))
            steps.append((t, math.exp(level)))
        return steps

    def _track(self, obj: ObjectSpec, rng: np.random.Generator) -> _Track:
        spec = self.spec
        height = round(math.sqrt(obj.area * spec.width * spec.height / ASPECT[obj.shape]))
        height = max(min(height, round(0.95 * spec.height)), 6)
        y = int(rng.integers(0, max(1, spec.height - height)))
        if obj.contrast is None:
            band = self._scene[y : y + height].reshape(-1, 3).mean(axis=0)
            colour = rng.uniform(0, 255, size=3)
            while float(np.linalg.norm(colour - band)) < MIN_CONTRAST:
                colour = rng.uniform(0, 255, size=3)
        else:
            # Low contrast is relative to whatever the object covers at the moment: the sprite holds
            # only its faint texture, and ``frame`` adds the ground's local mean plus the contrast.
            colour = np.zeros(3)
        still = sprite(
            obj.shape,
            rng,
            height=height,
            colour=colour.astype(np.float32),
            textured=obj.textured,
            subtle=obj.contrast is not None,
        )
        blur = round(obj.speed * spec.width * spec.shutter / spec.fps)
        return _Track(obj, still, motion_blur(still, blur), y)

    def _position(self, track: _Track, t: float) -> tuple[float, bool] | None:
        """(left edge, moving) of the object at time t, or None before it starts or once it left."""
        obj, width = track.spec, self.spec.width
        elapsed = t - obj.start_s
        if elapsed < 0:
            return None
        speed_px = obj.speed * width
        travelled = speed_px * elapsed
        moving = True
        if obj.stops:
            stop_at = track.width + 0.4 * width
            arrival = stop_at / speed_px
            if arrival < elapsed <= arrival + obj.dwell_s:
                travelled, moving = stop_at, False
            elif elapsed > arrival + obj.dwell_s:
                travelled = speed_px * (elapsed - obj.dwell_s)
        if travelled >= width + track.width:
            return None
        left = width - travelled if obj.leftward else travelled - track.width
        return left, moving

    def _visible_share(self, track: _Track, t: float) -> float:
        position = self._position(track, t)
        if position is None:
            return 0.0
        left = position[0]
        inside = max(0.0, min(left + track.width, self.spec.width) - max(left, 0.0))
        return inside / track.width

    def _interval(self, track: _Track, share: float) -> Interval:
        visible = [
            index
            for index in range(self.spec.frame_count)
            if self._visible_share(track, index / self.spec.fps) >= share
        ]
        if not visible:
            raise ValueError(
                f"{self.spec.name}: an object starting at {track.spec.start_s}s is never visible"
            )
        return Interval(visible[0], visible[-1])

    def _exposure(self, t: float) -> float:
        gain = 1.0
        for at, level in self._steps:
            if at > t:
                break
            gain = level
        return gain

    def frame(self, index: int) -> Image:
        spec = self.spec
        rng = np.random.default_rng([spec.seed, index])
        t = index / spec.fps
        image: Float = self._scene.copy()
        for motion in self._motions:
            motion.apply(image, t, rng)
        for track in self._tracks:
            position = self._position(track, t)
            if position is not None:
                left, moving = position
                item = track.moving if moving else track.still
                x = round(left) - (item.width - track.width) // 2
                if track.spec.contrast is not None:
                    item = self._blend_in(item, x, track.y, track.spec.contrast)
                paste(image, item, x, track.y)
        image = image * self._lighting.at(t) * self._exposure(t)
        if spec.shake_px:
            image = _shaken(image, rng, spec.shake_px)
        noise = spec.noise
        if spec.noise_gain:
            light = self._lighting.level(t) * self._exposure(t)
            noise *= max(1.0, 1.0 / light) ** spec.noise_gain
        if spec.noise_kind == "shot":
            deviation = np.sqrt(noise**2 + SHOT_NOISE * np.clip(image, 0, 255))
            image = image + rng.normal(0, 1, size=image.shape).astype(np.float32) * deviation
        else:
            image = image + rng.normal(0, noise, size=image.shape).astype(np.float32)
        frame = np.clip(image, 0, 255).astype(np.uint8)
        if spec.compression is not None:
            flag = cv2.IMWRITE_JPEG_QUALITY if spec.compression == "jpeg" else cv2.IMWRITE_WEBP_QUALITY
            ok, encoded = cv2.imencode(f".{spec.compression}", frame, [flag, spec.quality])
            if not ok:
                raise RuntimeError(f"OpenCV cannot encode {spec.compression}")
            frame = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), dtype=np.uint8)
        return frame

    def _blend_in(self, item: Sprite, left: int, top: int, contrast: float) -> Sprite:
        """A low-contrast object: the ground's mean under it, plus ``contrast`` grey levels of luma."""
        width = self.spec.width
        region = self._scene[max(top, 0) : top + item.height, max(left, 0) : min(left + item.width, width)]
        ground = region.reshape(-1, 3).mean(axis=0) if region.size else np.zeros(3, dtype=np.float32)
        colour = np.clip(ground + contrast, 0, 255).astype(np.float32)
        return Sprite(item.colour + colour, item.alpha)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Image]:
        end = self.spec.frame_count if stop is None else min(stop, self.spec.frame_count)
        for index in range(start, end):
            yield self.frame(index)


def _shaken(image: Float, rng: np.random.Generator, pixels: int) -> Float:
    """The image moved by up to ``pixels`` each way; the edge repeats into the uncovered strip."""
    dx, dy = (int(value) for value in rng.integers(-pixels, pixels + 1, size=2))
    padded = np.pad(image, ((pixels, pixels), (pixels, pixels), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    top, left = pixels - dy, pixels - dx
    shifted: Float = padded[top : top + height, left : left + width]
    return shifted
