"""The accuracy benchmark's two clip sets: a tuning set and a hold-out set.

The method (``gateway/anomaly/``) was developed and its constants chosen on the **tuning** set only;
the **hold-out** set is what its accuracy is reported on. The two differ in generator seeds and in
scene families, so a method that merely learned the tuning clips does not pass the hold-out:

| | tuning | hold-out |
|---|---|---|
| backgrounds | blocks, stripes (road) | terrain (sky + fractal ground), tiles, rooms |
| object shapes | ellipse, box, striped box | person, car, irregular blob |
| object sizes (share of the frame's area) | 1, 2, 5, 10, 20, 30 % | log-uniform 1 % .. 30 % |
| speeds (frame widths/s; 1.1: across in < 1 s) | 0.05 .. 1.1 in six steps | log-uniform 0.04 .. 1.1 |
| low contrast (30 % of objects >= 4 % of the frame) | 4 .. 12 grey levels of luma | 3 .. 10 |
| normal motion | foliage (random leaves), a flickering lamp | a swaying branch, water with sparkles |
| lighting | sinusoidal gain, left-right tilt, a bowl | random-walk gain, top-bottom gradient, vignette |
| exposure | +-12 % every 15 s (drift clips 2, 3: +-20 % every 7.5, 2.5 s) | 5-20 % at random times |
| sensor noise | Gaussian, 2 / 4 / 8 grey levels | read noise 2 / 3 / 5 plus shot noise |
| compression | JPEG 50 / 70 / 90 or none | WebP 40 / 60 / 80 or none |
| shutter (motion blur) | 40 % of the frame interval | 60 % |
| drift-only clips | three, 10 minutes; the second and third push harder (below) | two, 10 minutes |
| parking (something stays 200 s) | a box | a car |

The tuning set's second drift-only clip pushes its own families' nuisances harder than anything else
in it: exposure jumps up to 1.5x every 7.5 s, the light 2.5 times faster (gain, tilt and bowl) and
its gain a quarter deeper, foliage 1.7 times stronger beside a lamp that flickers 1.7 times harder.
With one gentle drift clip the method was never pushed on lighting and passed the tuning set while a
hold-out drift clip alerted; this clip shows that failure on tuning data (``gateway/anomaly``).

The third drift-only clip combines what the second does not: light that leaves the enrolled range
(a log gain of +-0.8 over 5 minutes, so the 30 s enrollment sees a narrow band of it) while
exposure steps of +-20 % land every 2.5 s, often of both signs in a row and always while the light
moves; a camera whose noise grows as the light falls (``ClipSpec.noise_gain``); a slow shift of
colour temperature, blue against red (``ClipSpec.colour_drift``); two foliage patches and a lamp on
the blocks background (flat and textured cells). Bright surfaces clip in some channels through its
enrollment and most of the frame clips in its brightest minutes: the method's clipping rules were
found on it (``gateway/anomaly/clipping.py``).

Seeds: tuning from 100, hold-out from 13000 (``SEEDS``). Retired hold-out draws
(``RETIRED_SEEDS``): seeds 5000.. were measured twice, the second time after their drift miss was
known; seeds 9000.. were measured once, offline, after the saturation fix was frozen, and their
drift clip alerted once, so the clipping rules chosen next on the tuning set's third drift clip were
chosen knowing that a hold-out drift clip still failed. Each redraw comes after the method is frozen
on tuning data, from the same palette and families, and is looked at once per frozen method.

Small objects (under 4 % of the frame) always have a clear colour difference: three grey levels
over a few cells is below what any per-cell statistic can separate from noise and compression.
Every set enrolls on each clip's first 20 s (drift-only clips: 30 s at 2 fps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.clips import ClipSpec, ObjectSpec

ENROLL_S = 20.0
DRIFT_ENROLL_S = 30.0
SETS = ("tuning", "holdout")


@dataclass(frozen=True, slots=True)
class DriftClip:
    """How hard one drift-only clip of a set pushes the light and the normal motion."""

    drift: float = 0.4
    """Amplitude of the lighting family's log gain."""
    period_s: float = 150.0
    exposure_step: float = 0.12
    """``periodic`` exposure only (``random`` draws its own steps)."""
    exposure_every_s: float = 15.0
    motion_strength: float = 1.0
    motions: int = 1
    """How many of the palette's normal motions the scene has, from the clip's index on."""
    noise_gain: float = 0.0
    """The camera's noise grows as the light falls (``ClipSpec.noise_gain``)."""
    colour_drift: float = 0.0
    """A slow colour-temperature shift (``ClipSpec.colour_drift``)."""


@dataclass(frozen=True, slots=True)
class Palette:
    """How one set draws a clip's families and its objects."""

    backgrounds: tuple[str, ...]
    motions: tuple[str, ...]
    shapes: tuple[str, ...]
    lighting: str
    exposure_steps: str
    noise_kind: str
    noises: tuple[float, ...]
    compression: str
    qualities: tuple[int, ...]
    shutter: float
    area: Callable[[np.random.Generator], float]
    speed: Callable[[np.random.Generator], float]
    low_contrast: tuple[float, float]
    parked_shape: str
    drift_clips: tuple[DriftClip, ...]
    """One per drift-only clip of the full set (the quick set plays the first)."""


def _log_uniform(low: float, high: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _one_of(*values: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(rng.choice(values))


TUNING = Palette(
    backgrounds=("blocks", "stripes"),
    motions=("foliage", "flicker"),
    shapes=("ellipse", "box", "striped"),
    lighting="sine-tilt",
    exposure_steps="periodic",
    noise_kind="gaussian",
    noises=(2.0, 4.0, 8.0),
    compression="jpeg",
    qualities=(50, 70, 90),
    shutter=0.4,
    area=_one_of(0.01, 0.02, 0.05, 0.1, 0.2, 0.3),
    speed=_one_of(0.05, 0.1, 0.2, 0.4, 0.7, 1.1),
    low_contrast=(4.0, 12.0),
    parked_shape="box",
    # The second drift clip pushes the tuning families' own nuisances harder than the first: +-20 %
    # exposure steps every 7.5 s (jumps up to 1.5x), light 2.5 times faster and a quarter deeper,
    # foliage and the flickering lamp 1.7 times stronger.
    drift_clips=(
        DriftClip(),
        DriftClip(
            drift=0.5,
            period_s=60.0,
            exposure_step=0.2,
            exposure_every_s=7.5,
            motion_strength=1.7,
            motions=2,
        ),
        DriftClip(
            drift=0.8,
            period_s=300.0,
            exposure_step=0.2,
            exposure_every_s=2.5,
            motion_strength=1.7,
            motions=3,
            noise_gain=1.0,
            colour_drift=0.08,
        ),
    ),
)
HOLDOUT = Palette(
    backgrounds=("terrain", "tiles", "rooms"),
    motions=("branch", "water"),
    shapes=("person", "car", "blob"),
    lighting="clouds",
    exposure_steps="random",
    noise_kind="shot",
    noises=(2.0, 3.0, 5.0),
    compression="webp",
    qualities=(40, 60, 80),
    shutter=0.6,
    area=_log_uniform(0.01, 0.3),
    speed=_log_uniform(0.04, 1.1),
    low_contrast=(3.0, 10.0),
    parked_shape="car",
    drift_clips=(DriftClip(), DriftClip()),
)
PALETTES = {"tuning": TUNING, "holdout": HOLDOUT}
SEEDS = {"tuning": 100, "holdout": 13000}
"""First generator seed of each set; a set draws from its first seed to 800 past it (full and quick),
so the sets' seed ranges never meet."""
RETIRED_SEEDS = frozenset(range(5000, 5800)) | frozenset(range(9000, 9800))
"""The first two hold-out draws, retired (see the module docstring)."""


def _objects(
    rng: np.random.Generator, palette: Palette, first_s: float, last_s: float
) -> tuple[ObjectSpec, ...]:
    """Objects spaced so consecutive events never overlap (one event per object)."""
    objects = []
    t = first_s
    while t < last_s:
        area = palette.area(rng)
        speed = palette.speed(rng)
        low = area >= 0.04 and rng.random() < 0.3
        contrast = None
        if low:
            contrast = float(rng.uniform(*palette.low_contrast)) * float(rng.choice([-1.0, 1.0]))
        stops = bool(rng.random() < 0.25)
        spec = ObjectSpec(
            start_s=t,
            area=area,
            speed=speed,
            shape=str(rng.choice(palette.shapes)),
            contrast=contrast,
            textured=bool(rng.random() < 0.3),
            leftward=bool(rng.random() < 0.5),
            stops=stops,
            dwell_s=float(rng.uniform(2, 6)),
        )
        objects.append(spec)
        crossing = (1.0 + math.sqrt(area)) / speed + (spec.dwell_s if stops else 0.0)
        t += crossing + 4.0 + float(rng.uniform(0, 3))
    return tuple(objects)


def _event_clip(name: str, seed: int, palette: Palette, duration_s: float, index: int) -> ClipSpec:
    rng = np.random.default_rng(seed)
    motions: tuple[str, ...] = ()
    if index % 3 == 1:
        motions = (palette.motions[0],)
    elif index % 3 == 2:
        motions = (palette.motions[1],)
    return ClipSpec(
        name=name,
        seed=seed,
        duration_s=duration_s,
        enroll_s=ENROLL_S,
        background=palette.backgrounds[index % len(palette.backgrounds)],
        motions=motions,
        lighting=palette.lighting,
        drift=float(rng.choice([0.1, 0.25, 0.4])),
        drift_period_s=float(rng.uniform(30, 90)),
        exposure_steps=palette.exposure_steps if index % 2 == 1 else None,
        shake_px=int(rng.choice([0, 0, 1])),
        noise_kind=palette.noise_kind,
        noise=float(rng.choice(palette.noises)),
        compression=None if index % 4 == 0 else palette.compression,
        quality=int(rng.choice(palette.qualities)),
        shutter=palette.shutter,
        objects=_objects(rng, palette, ENROLL_S + 3.0, duration_s - 8.0),
    )


def _drift_clip(name: str, seed: int, palette: Palette, duration_s: float, index: int) -> ClipSpec:
    drift = palette.drift_clips[index]
    motions = tuple(
        palette.motions[(index + offset) % len(palette.motions)] for offset in range(drift.motions)
    )
    return ClipSpec(
        name=name,
        seed=seed,
        duration_s=duration_s,
        enroll_s=DRIFT_ENROLL_S,
        fps=2.0,
        background=palette.backgrounds[index % len(palette.backgrounds)],
        motions=motions,
        motion_strength=drift.motion_strength,
        colour_drift=drift.colour_drift,
        lighting=palette.lighting,
        drift=drift.drift,
        drift_period_s=drift.period_s,
        exposure_steps=palette.exposure_steps,
        exposure_step=drift.exposure_step,
        exposure_every_s=drift.exposure_every_s,
        shake_px=1,
        noise_kind=palette.noise_kind,
        noise=palette.noises[1],
        noise_gain=drift.noise_gain,
        compression=palette.compression,
        quality=palette.qualities[1],
        shutter=palette.shutter,
    )


def _parked_clip(name: str, seed: int, palette: Palette) -> ClipSpec:
    """Five minutes at 5 fps: something parks for 200 s (longer than the gateway's default
    new_normal_after_s, 120 s) while others walk by before, during and after."""
    walker = palette.shapes[0]
    objects = (
        ObjectSpec(
            start_s=30.0, area=0.06, speed=0.25, shape=palette.parked_shape, stops=True, dwell_s=200.0
        ),
        ObjectSpec(start_s=90.0, area=0.03, speed=0.3, shape=walker, leftward=True),
        ObjectSpec(start_s=180.0, area=0.03, speed=0.3, shape=walker),
        ObjectSpec(start_s=205.0, area=0.04, speed=0.2, shape=walker, leftward=True),
        ObjectSpec(start_s=260.0, area=0.03, speed=0.3, shape=walker),
    )
    return ClipSpec(
        name=name,
        seed=seed,
        duration_s=300.0,
        enroll_s=ENROLL_S,
        fps=5.0,
        background=palette.backgrounds[0],
        lighting=palette.lighting,
        drift=0.25,
        drift_period_s=120.0,
        noise_kind=palette.noise_kind,
        noise=palette.noises[1],
        compression=palette.compression,
        quality=palette.qualities[1],
        shutter=palette.shutter,
        objects=objects,
    )


def clip_set(name: str, quick: bool) -> tuple[ClipSpec, ...]:
    """The clips of set ``tuning`` or ``holdout``.

    full: tuning has sixteen 2-minute event clips, hold-out fourteen, and each two 10-minute
    drift-only clips; each also has a 5-minute clip in which something parks for 200 s. quick (for
    CI): eight 90-second event clips and one 90-second drift-only clip. Event clips run at 10 fps,
    drift-only clips at 2 fps, parking clips at 5 fps.
    """
    if name not in PALETTES:
        raise ValueError(f"unknown clip set {name!r}; one of {', '.join(SETS)}")
    palette, first_seed = PALETTES[name], SEEDS[name] + (500 if quick else 0)
    if quick:
        events, duration, drifts, drift_s = 8, 90.0, 1, 90.0
    elif name == "tuning":
        events, duration, drifts, drift_s = 16, 120.0, len(palette.drift_clips), 600.0
    else:
        events, duration, drifts, drift_s = 14, 120.0, len(palette.drift_clips), 600.0
    specs = [
        _event_clip(f"{name}-{index:02d}", first_seed + index, palette, duration, index)
        for index in range(events)
    ]
    if not quick:
        specs.append(_parked_clip(f"{name}-parked", first_seed + 200, palette))
    for index in range(drifts):
        suffix = "90s" if quick else "10min"
        specs.append(
            _drift_clip(f"{name}-drift-{suffix}-{index}", first_seed + 100 + index, palette, drift_s, index)
        )
    return tuple(specs)
