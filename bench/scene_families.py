"""The still building blocks the clip generator draws from, by family (numpy + cv2 only); what moves
all the time and the light are in ``scene_motion.py``.

Every block is named, so a clip set says which families it uses and the tuning set and the hold-out
set can be kept apart by kind, not only by seed (``clip_sets.py`` checks they share none):

- backgrounds: ``blocks`` (gradient, rectangles, lines, textured patches), ``stripes`` (a road with
  lanes, kerbs and a fence), ``terrain`` (fractal ground under a sky, a horizon), ``tiles`` (a
  paved square: bricks and mortar, textured everywhere), ``rooms`` (an indoor corridor: soft walls,
  doors, few edges);
- ground textures inside backgrounds: blurred noise (``blocks``), speckle (``stripes``), fractal
  (``terrain``), brick joints (``tiles``), none (``rooms``);
- object sprites: ``ellipse``, ``box``, ``striped`` (tuning); ``person``, ``car``, ``blob`` (an
  irregular star-shaped polygon) (hold-out); each plain or textured;
- normal motion: ``foliage`` (a patch of random leaves every frame), ``flicker`` (a lamp or screen
  whose brightness jumps) (tuning); ``branch`` (a swaying branch with leaves), ``water`` (travelling
  ripples with sparkles) (hold-out);
- lighting: ``sine-tilt`` (global gain, colour temperature, a left-right tilt and a broad bowl)
  (tuning); ``clouds`` (a random-walk gain, a top-bottom gradient and a vignette that breathe)
  (hold-out).

Images are float32 BGR "scene radiance" in grey levels before the camera: lighting multiplies them,
then the camera adds shake, noise and compression (``clips.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]
Generator = np.random.Generator

BACKGROUNDS = ("blocks", "stripes", "terrain", "tiles", "rooms")
SHAPES = ("ellipse", "box", "striped", "person", "car", "blob")
MOTIONS = ("foliage", "flicker", "branch", "water")
LIGHTINGS = ("sine-tilt", "clouds")


def _smooth_noise(rng: Generator, height: int, width: int, sigma: float) -> Float:
    """Zero-mean, unit-deviation Gaussian-blurred noise."""
    field = cv2.GaussianBlur(rng.normal(0, 1, size=(height, width)).astype(np.float32), (0, 0), sigma)
    normalised: Float = ((field - field.mean()) / max(float(field.std()), 1e-6)).astype(np.float32)
    return normalised


def _fractal(rng: Generator, height: int, width: int, octaves: int = 5) -> Float:
    field = np.zeros((height, width), dtype=np.float32)
    for octave in range(octaves):
        field += _smooth_noise(rng, height, width, 24.0 / 2**octave) * 0.6**octave
    normalised: Float = ((field - field.mean()) / max(float(field.std()), 1e-6)).astype(np.float32)
    return normalised


def random_colour(rng: Generator, low: float = 20, high: float = 235) -> tuple[float, float, float]:
    values = rng.uniform(low, high, size=3)
    return float(values[0]), float(values[1]), float(values[2])


def _blocks(rng: Generator, height: int, width: int) -> Float:
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
        cv2.line(image, start, end, random_colour(rng, 0, 255), int(rng.integers(1, 4)))
    texture = cv2.GaussianBlur(rng.normal(0, 40, size=(height, width)).astype(np.float32), (0, 0), 1.5)
    mask = np.zeros((height, width), dtype=np.float32)
    for _ in range(3):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 30))
        mask[y : y + int(rng.integers(15, 50)), x : x + int(rng.integers(20, 80))] = 1.0
    image += (texture * mask)[:, :, None]
    blocks: Float = image.astype(np.float32)
    return blocks


def _stripes(rng: Generator, height: int, width: int) -> Float:
    """A road seen from above at an angle: asphalt with speckle, lane marks, kerbs, a fence."""
    asphalt = rng.uniform(50, 120)
    image = np.full((height, width, 3), asphalt, dtype=np.float32) * rng.uniform(0.9, 1.1, size=3)
    speckle = rng.normal(0, rng.uniform(6, 14), size=(height, width)).astype(np.float32)
    image += speckle[:, :, None]
    verge = int(rng.integers(height // 6, height // 3))
    image[:verge] = random_colour(rng, 60, 200)
    image[:verge] += (_smooth_noise(rng, verge, width, 2.0) * rng.uniform(5, 20))[:, :, None]
    for lane in range(1, int(rng.integers(2, 4))):
        y = verge + lane * (height - verge) // 3
        for x in range(int(rng.integers(0, 20)), width, 40):
            cv2.rectangle(image, (x, y), (x + 20, y + 2), (220, 220, 220), -1)
    cv2.line(image, (0, verge), (width, verge), random_colour(rng, 150, 230), 3)
    for x in range(int(rng.integers(0, 12)), width, int(rng.integers(10, 18))):
        cv2.line(image, (x, 0), (x, verge - 4), random_colour(rng, 20, 90), 1)
    road: Float = image.astype(np.float32)
    return road


def _terrain(rng: Generator, height: int, width: int) -> Float:
    horizon = int(rng.integers(height // 5, height // 2))
    sky_top, sky_bottom = rng.uniform(120, 240, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None, None]
    image = np.zeros((height, width, 3), dtype=np.float32)
    image[:horizon] = sky_top + (sky_bottom - sky_top) * ramp
    ground = np.asarray(random_colour(rng, 40, 160), dtype=np.float32)
    relief = _fractal(rng, height - horizon, width) * rng.uniform(8, 30)
    image[horizon:] = ground + relief[:, :, None] * np.asarray([0.8, 1.0, 0.9], dtype=np.float32)
    for _ in range(int(rng.integers(2, 5))):
        centre = (int(rng.integers(0, width)), int(rng.integers(horizon, height)))
        axes = (int(rng.integers(10, 40)), int(rng.integers(5, 20)))
        cv2.ellipse(image, centre, axes, 0, 0, 360, random_colour(rng, 30, 120), -1)
    return image


def _tiles(rng: Generator, height: int, width: int) -> Float:
    tile_w, tile_h = int(rng.integers(10, 24)), int(rng.integers(6, 14))
    mortar = random_colour(rng, 120, 210)
    image = np.zeros((height, width, 3), dtype=np.float32)
    image[:] = mortar
    base = np.asarray(random_colour(rng, 60, 170), dtype=np.float32)
    for row, y in enumerate(range(0, height, tile_h)):
        shift = (tile_w // 2) * (row % 2)
        for x in range(-shift, width, tile_w):
            tone = base * rng.uniform(0.8, 1.2)
            cv2.rectangle(image, (x + 1, y + 1), (x + tile_w - 1, y + tile_h - 1), tuple(tone.tolist()), -1)
    image += (rng.normal(0, 6, size=(height, width)).astype(np.float32))[:, :, None]
    return image


def _rooms(rng: Generator, height: int, width: int) -> Float:
    wall, floor = rng.uniform(90, 220, size=(2, 3))
    line = int(rng.integers(height // 2, 3 * height // 4))
    image = np.zeros((height, width, 3), dtype=np.float32)
    columns = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    image[:line] = wall * (1.0 - 0.15 * columns**2)
    image[line:] = floor * (1.0 - 0.1 * np.linspace(0, 1, height - line, dtype=np.float32)[:, None, None])
    for _ in range(int(rng.integers(1, 4))):
        x = int(rng.integers(0, width - 40))
        door_w = int(rng.integers(20, 40))
        cv2.rectangle(image, (x, int(line * 0.3)), (x + door_w, line), random_colour(rng, 40, 160), -1)
    return image


BACKGROUND_MAKERS: dict[str, Callable[[Generator, int, int], Float]] = {
    "blocks": _blocks,
    "stripes": _stripes,
    "terrain": _terrain,
    "tiles": _tiles,
    "rooms": _rooms,
}


def background(kind: str, rng: Generator, height: int, width: int) -> Float:
    clipped: Float = np.clip(BACKGROUND_MAKERS[kind](rng, height, width), 0, 255).astype(np.float32)
    return clipped


# -- objects ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sprite:
    """An object's look: colour [h, w, 3] and coverage [h, w] in 0..1."""

    colour: Float
    alpha: Float

    @property
    def height(self) -> int:
        return int(self.alpha.shape[0])

    @property
    def width(self) -> int:
        return int(self.alpha.shape[1])


ASPECT = {"ellipse": 0.8, "box": 0.7, "striped": 0.7, "person": 0.4, "car": 2.2, "blob": 1.0}
"""Width over height of each shape."""


def _mask(shape: str, rng: Generator, height: int, width: int) -> tuple[Float, Float]:
    """(coverage, shade): shade darkens parts of the object (stripes, windows, wheels)."""
    alpha = np.zeros((height, width), dtype=np.float32)
    shade = np.ones((height, width), dtype=np.float32)
    if shape == "ellipse":
        cv2.ellipse(
            alpha, (width // 2, height // 2), (width // 2, height // 2), 0, 0, 360, 1.0, -1, cv2.LINE_AA
        )
    elif shape in ("box", "striped"):
        alpha[:] = 1.0
        if shape == "striped":
            for y in range(0, height, 6):
                shade[y : y + 2] = 0.5
    elif shape == "person":
        head = max(2, width // 3)
        cv2.circle(alpha, (width // 2, head), head, 1.0, -1, cv2.LINE_AA)
        cv2.rectangle(alpha, (width // 6, 2 * head), (width - width // 6, int(height * 0.62)), 1.0, -1)
        leg = max(1, width // 5)
        cv2.rectangle(alpha, (width // 2 - 2 * leg, int(height * 0.6)), (width // 2 - 1, height - 1), 1.0, -1)
        cv2.rectangle(alpha, (width // 2 + 1, int(height * 0.6)), (width // 2 + 2 * leg, height - 1), 1.0, -1)
        shade[int(height * 0.6) :] = 0.7
    elif shape == "car":
        body_top = int(height * 0.4)
        cv2.rectangle(alpha, (0, body_top), (width - 1, int(height * 0.85)), 1.0, -1)
        cv2.rectangle(alpha, (width // 4, 0), (3 * width // 4, body_top), 1.0, -1)
        shade[2 : body_top - 1, width // 4 + 2 : 3 * width // 4 - 2] = 0.55
        radius = max(2, height // 6)
        for x in (width // 5, 4 * width // 5):
            cv2.circle(alpha, (x, height - radius - 1), radius, 1.0, -1, cv2.LINE_AA)
            cv2.circle(shade, (x, height - radius - 1), radius, 0.25, -1)
    elif shape == "blob":
        angles = np.sort(rng.uniform(0, 2 * math.pi, size=int(rng.integers(6, 11))))
        radii = rng.uniform(0.55, 1.0, size=angles.size)
        points = np.stack(
            [
                width / 2 + np.cos(angles) * radii * width / 2,
                height / 2 + np.sin(angles) * radii * height / 2,
            ],
            axis=1,
        )
        cv2.fillPoly(alpha, [np.round(points).astype(np.int32)], 1.0, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return alpha, shade


def sprite(
    shape: str,
    rng: Generator,
    *,
    height: int,
    colour: npt.NDArray[np.float32],
    textured: bool,
    subtle: bool = False,
) -> Sprite:
    """``subtle``: a low-contrast object stays within a few grey levels everywhere (no dark parts,
    faint texture)."""
    width = max(3, round(height * ASPECT[shape]))
    alpha, shade = _mask(shape, rng, height, width)
    if subtle:
        shade[:] = 1.0
    image = np.broadcast_to(colour, (height, width, 3)).astype(np.float32) * shade[:, :, None]
    if textured:
        image += (_smooth_noise(rng, height, width, 0.8) * (2.0 if subtle else 12.0))[:, :, None]
    return Sprite(image, alpha)


def motion_blur(item: Sprite, length: int) -> Sprite:
    """Horizontal smear over ``length`` pixels (the shutter open while the object moves)."""
    if length <= 1:
        return item
    pad = length // 2 + 1
    colour = np.pad(item.colour * item.alpha[:, :, None], ((0, 0), (pad, pad), (0, 0)))
    alpha = np.pad(item.alpha, ((0, 0), (pad, pad)))
    kernel = np.full((1, length), 1.0 / length, dtype=np.float32)
    blurred_alpha = cv2.filter2D(alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    blurred = cv2.filter2D(colour, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    safe = np.maximum(blurred_alpha, 1e-6)[:, :, None]
    return Sprite((blurred / safe).astype(np.float32), blurred_alpha.astype(np.float32))


def paste(image: Float, item: Sprite, left: int, top: int) -> None:
    """Alpha-composite ``item`` with its top-left corner at (left, top), clipped to the image."""
    height, width = image.shape[:2]
    x1, y1 = max(left, 0), max(top, 0)
    x2, y2 = min(left + item.width, width), min(top + item.height, height)
    if x2 <= x1 or y2 <= y1:
        return
    alpha = item.alpha[y1 - top : y2 - top, x1 - left : x2 - left, None]
    colour = item.colour[y1 - top : y2 - top, x1 - left : x2 - left]
    image[y1:y2, x1:x2] = image[y1:y2, x1:x2] * (1.0 - alpha) + colour * alpha
