"""What changes all the time in a generated scene without being an event: normal motion (foliage, a
flickering lamp, a swaying branch, water) and the light, by family (see ``scene_families.py``)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from bench.scene_families import LIGHTINGS, Float, Generator, random_colour


class NormalMotion:
    """Something in the scene that moves all the time and is not an event."""

    def __init__(self, kind: str, rng: Generator, height: int, width: int, *, strength: float = 1.0) -> None:
        self.kind = kind
        self._strength = strength
        self._width = int(rng.integers(50, 90))
        self._height = int(rng.integers(35, 60))
        self._x = int(rng.integers(0, width - self._width))
        self._y = int(rng.integers(0, height - self._height))
        self._period = float(rng.uniform(2.0, 5.0))
        self._phase = float(rng.uniform(0, 2 * math.pi))
        self._amplitude = float(rng.uniform(0.12, 0.3))
        self._tone = np.asarray(random_colour(rng, 30, 120), dtype=np.float32)
        self._leaves = rng.uniform(0, 1, size=(int(rng.integers(25, 45)), 2)).astype(np.float32)
        self._anchor_left = bool(rng.random() < 0.5)
        if kind == "water":
            self._width, self._height = int(rng.integers(90, 160)), int(rng.integers(30, 55))
            self._x = int(rng.integers(0, width - self._width))
            self._y = height - self._height - int(rng.integers(0, height // 4))
            self._waves = rng.uniform(0, 1, size=(4, 4)).astype(np.float32)

    def apply(self, image: Float, t: float, rng: Generator) -> None:
        x, y, w, h = self._x, self._y, self._width, self._height
        region = image[y : y + h, x : x + w]
        if self.kind == "foliage":
            leaves = rng.normal(0, 35 * self._strength, size=(h, w)).astype(np.float32)
            sway = cv2.GaussianBlur(leaves, (0, 0), 1.0)
            region += sway[:, :, None]
        elif self.kind == "flicker":
            region *= float(1.0 + self._strength * rng.choice([-0.15, 0.0, 0.0, 0.2]))
        elif self.kind == "branch":
            self._branch(region, t, rng)
        elif self.kind == "water":
            self._water(region, t, rng)
        else:
            raise ValueError(f"unknown normal motion {self.kind!r}")

    def _branch(self, region: Float, t: float, rng: Generator) -> None:
        h, w = region.shape[:2]
        angle = self._amplitude * math.sin(2 * math.pi * t / self._period + self._phase)
        angle += float(rng.normal(0, 0.02))
        anchor = np.asarray([0.0 if self._anchor_left else w - 1.0, h * 0.2], dtype=np.float32)
        direction = 1.0 if self._anchor_left else -1.0
        tip = anchor + np.asarray(
            [direction * math.cos(angle) * w * 0.95, math.sin(angle) * w * 0.95 + h * 0.3], dtype=np.float32
        )
        colour = tuple((self._tone * 0.6).tolist())
        cv2.line(region, tuple(np.round(anchor).astype(int)), tuple(np.round(tip).astype(int)), colour, 3)
        for along, offset in self._leaves:
            point = anchor + (tip - anchor) * float(along)
            centre = (int(point[0]), int(point[1] + (offset - 0.5) * h * 0.5))
            cv2.ellipse(
                region,
                centre,
                (5, 3),
                math.degrees(angle) + 40 * offset,
                0,
                360,
                tuple(self._tone.tolist()),
                -1,
            )

    def _water(self, region: Float, t: float, rng: Generator) -> None:
        h, w = region.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        ripples = np.zeros((h, w), dtype=np.float32)
        for wavelength, speed, angle, weight in self._waves:
            k = 2 * math.pi / (6.0 + 14.0 * float(wavelength))
            theta = float(angle) * math.pi
            ripples += float(weight) * np.sin(
                k * (xs * math.cos(theta) + ys * math.sin(theta)) - (1.0 + 3.0 * float(speed)) * t
            )
        base = self._tone * 0.9
        region[:] = base + (ripples * 9.0)[:, :, None]
        sparkle = rng.random(size=(h, w)) > 0.985
        region[sparkle & (ripples > 0.8)] = 235.0


# -- lighting ---------------------------------------------------------------------------------------


class Lighting:
    """A multiplicative light field over time: ``at(t)`` -> [H, W, 3] (or broadcastable) gains."""

    def __init__(
        self,
        kind: str,
        rng: Generator,
        size: tuple[int, int],
        *,
        drift: float,
        period_s: float,
        colour_drift: float = 0.0,
    ) -> None:
        height, width = size
        if kind not in LIGHTINGS:
            raise ValueError(f"unknown lighting {kind!r}")
        self.kind = kind
        self._drift = drift
        self._period = period_s
        self._colour_drift = colour_drift
        self._phases = rng.uniform(0, 2 * math.pi, size=8)
        self._columns = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
        self._rows = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None, None]
        centre = rng.uniform(-0.6, 0.6, size=2)
        self._bowl = ((self._columns - centre[0]) ** 2 + (self._rows - centre[1]) ** 2).astype(np.float32)
        self._radius = (self._columns**2 + self._rows**2).astype(np.float32) / 2.0
        # clouds: a smooth random walk of the log gain, one knot per 5 s
        self._knots = np.cumsum(rng.normal(0, 1, size=512)).astype(np.float32)
        self._knots = (self._knots - self._knots.mean()) / max(float(self._knots.std()), 1e-6)

    def level(self, t: float) -> float:
        """The global gain alone at time t (no colour, no field): how much light the camera gets."""
        return math.exp(self._log_gain(t))

    def _log_gain(self, t: float) -> float:
        phase, period = self._phases, self._period
        if self.kind == "sine-tilt":
            return self._drift * (
                0.7 * math.sin(2 * math.pi * t / period + phase[0])
                + 0.3 * math.sin(2 * math.pi * t / (period / 3.7) + phase[1])
            )
        position = t / 5.0
        index = int(position) % (len(self._knots) - 1)
        fraction = position - int(position)
        smooth = (1 - math.cos(math.pi * fraction)) / 2
        walk = float(self._knots[index] * (1 - smooth) + self._knots[index + 1] * smooth)
        return self._drift * 0.8 * walk

    def at(self, t: float) -> Float:
        phase, period = self._phases, self._period
        colour = np.exp(0.04 * np.sin(2 * math.pi * t / (period * 1.3) + phase[2:5])).astype(np.float32)
        if self._colour_drift:
            # a slow colour-temperature shift: blue up while red goes down, and back
            warmth = self._colour_drift * math.sin(2 * math.pi * t / (period * 2.3) + phase[7])
            colour = colour * np.exp(np.asarray([warmth, 0.0, -warmth], dtype=np.float32))
        log_gain = self._log_gain(t)
        if self.kind == "sine-tilt":
            tilt = 0.06 * math.sin(2 * math.pi * t / (period * 0.8) + phase[5])
            bowl = 0.05 * math.sin(2 * math.pi * t / (period * 1.7) + phase[6])
            field = (1.0 + tilt * self._columns) * (1.0 + bowl * (self._bowl - 0.5))
        else:
            gradient = 0.08 * math.sin(2 * math.pi * t / (period * 0.9) + phase[5])
            vignette = 0.06 * (1 + math.sin(2 * math.pi * t / (period * 1.4) + phase[6]))
            field = (1.0 + gradient * self._rows) * (1.0 - vignette * self._radius)
        result: Float = (math.exp(log_gain) * colour * field).astype(np.float32)
        return result
