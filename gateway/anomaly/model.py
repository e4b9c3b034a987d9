"""The scene-anomaly model: the method's constants (``Settings``) and what enrollment learns (``SceneModel``).

The method in numpy is the reference the ONNX graph (``export.py``) reproduces operation for
operation, so the thresholds chosen on the enrollment frames mean the same thing inside the exported
model. It is described here, and done in four steps: the cell statistics (four linear channels per
window, three scales) in ``features.py``, the lighting in ``lighting.py``, scoring in
``scoring.py``, fitting on the enrollment frames in ``fitting.py``. How the method and its constants
were chosen, and how it compares with OpenCV's background subtractors, is in the package docstring
(``gateway/anomaly/__init__.py``).

Lighting, per frame, estimated on the fine cells in log space (``log(value + offset)``, where a
change of light is roughly additive) against the learned means:

- a gain per colour channel: the median over cells of the deviation (global brightness and colour
  temperature; a median ignores an object until it covers half the frame), over the cells that do
  not clip in that channel (``clipping.py``: a cell at 255 does not follow the light);
- a smooth field shared by the colour channels: a quadratic surface over the frame (a tilt, a
  vignette, a gradient from a window), fitted to the deviations left after the gains. The fit starts
  from the medians of 6 x 8 regions (starting at zero would reject as outliers the very cells that
  show a large change), refitted ``region_refits`` times without the regions whose median lies far
  from the surface (an object covering most of a region), then refitted ``refits`` times on the
  cells, every cell farther than ``inlier`` spreads from the current surface replaced by the
  surface's own value, which converges to a fit on the inliers: an object is left out of the light
  it is measured against.

Expected values, per window of every scale, in linear space: colour ``min(mean * exp(light), 255)``
(a bright surface saturates instead of growing), texture ``signal * exp(luma light) + noise``: edges
brighten with the light, the camera's noise does not. ``noise`` is the mean |gradient| that pure
noise of the camera's temporal deviation gives (2.26 times it, for white noise), capped per cell at
twice the frame's median so that leaves moving in the wind count as scene texture.

Saturation: where a window's brightest normal colour under the frame's light reaches ``bright``
(240 grey levels), its texture channel is ignored, since a clipped surface has none. The brightest
normal colour (``ScaleModel.peak``) is learned at enrollment: the level of the window's brightest
twentieth of pixels over its mean (a patterned surface clips in its bright parts first), times the
``tail_quantile`` of its upward colour residual (a flickering lamp, leaves catching the light: the
brightest the window gets, not its median). Why, found on the tuning set's hard drift clip: with an
exposure step on a bright phase of the light (1.75x the enrollment's), a flickering lamp whose usual
colour stays just under the test (228) clips to a flat white in its bright state, its texture
vanishes (log residual -2.6) and the old test, on the median colour, kept comparing it: 11 flagged
normal frames, up to 1.60 of the threshold, all on the lamp's texture. Not a lag (the model is
stateless and estimates the light on every frame), not the light field (the residual is local), not
a spread too tight (the lamp's texture spread, 0.27, is already seven times the floor): a surface
clipping where a gain alone says it should not.

The same test sorts the enrollment: a window's texture mean is a median over the enrollment frames,
and its spread and tail are learned from the frames in which it was not clipped. Where it was
clipped in more than half of them (``TEXTURE_SEEN``) its texture was never seen and is never
compared (its peak is infinite): otherwise a surface that glared white through the enrollment
would, in darker light, show texture measured against a spread learned from clipped frames (the
quick tuning set, seed 606, flagged 14 normal frames that way before this rule).

Normal variation, per window and channel: the spread is the MAD of the log residual over the
enrollment frames (robust to a person crossing during enrollment) combined with a small floor
(compression and noise at other gains), then widened where the window's own residuals have a heavy
tail (water sparkles, a flickering lamp): by ``q99(|z|) / 3`` when that exceeds 1. Lighting outside
the enrolled range widens every spread: ``sqrt(spread^2 + (weight * excess)^2)``, with ``excess``
the distance of the frame's gain from the enrolled range (saturating and sinking surfaces change in
ways a gain cannot remove).

Score: ``z = |log observed - log expected| / spread``, the max over channels per window, divided by
the scale's threshold; the map is, per fine cell, the max over scales of the windows covering it;
the frame's raw score is the max over the map (a small object may cover a single cell, so no
averaging). Each scale's threshold is ``max(min_threshold, margin * q99(per-frame max z over the
enrollment frames))``: the 99th percentile rather than the maximum so a brief intrusion during
enrollment cannot inflate it, the margin for the unseen tail of normal (light beyond what
enrollment saw), the floor against a very clean enrollment's hair trigger. Raw 1.0 is the threshold
at every scale; the outputs are squashed to 0..1 as ``raw / (raw + 1)``, so 0.5 is the threshold in
every version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.anomaly.features import COLOURS, SCALES, FloatArray, GridSpec


@dataclass(frozen=True, slots=True)
class Settings:
    """The method's constants (chosen on the tuning clip set; see the package docstring)."""

    colour_offset: float = 4.0
    """Grey levels added before the log: keeps dark, noisy cells from exploding."""
    texture_offset: float = 4.0
    colour_floor: float = 0.015
    """Spread floor, log units (about 1.5% of brightness)."""
    texture_floor: float = 0.04
    basis_terms: int = 6
    """Of the smooth light field: 1 (none), 3 (a plane) or 6 (quadratic)."""
    inlier: float = 3.0
    refits: int = 3
    region_inlier: float = 2.5
    """Regions whose median lies farther than this many robust deviations from the surface are left out."""
    region_floor: float = 0.01
    region_refits: int = 2
    scales: tuple[str, ...] = SCALES
    tail_quantile: float = 0.99
    tail_reference: float = 3.0
    quantile: float = 0.99
    margin: float = 2.1
    min_threshold: float = 5.0
    colour_excess: float = 0.25
    texture_excess: float = 0.5
    noise_gradient: float = 2.26
    noise_cap: float = 2.0
    bright: float = 240.0
    """Colour (grey levels) from which the texture channel is ignored: where the window's brightest
    normal colour under the frame's light (``ScaleModel.peak``) reaches it."""
    headroom: bool = True
    """The saturation test uses each window's brightest normal colour (False: its median colour)."""
    pixel_peaks: bool = True
    """The brightest normal colour is that of the window's bright pixels (False: its mean's)."""
    unclipped_gain: bool = True
    """The gains are medians over the cells not clipped in that channel (False: over every cell)."""
    follow_noise: bool = True
    """The texture channel's noise part follows the frame's grain (False: it stays as enrolled)."""
    fit_iterations: int = 3

    def offsets(self) -> FloatArray:
        values = [self.colour_offset] * COLOURS + [self.texture_offset]
        return np.asarray(values, dtype=np.float32).reshape(1, -1, 1, 1)

    def floors(self) -> FloatArray:
        values = [self.colour_floor] * COLOURS + [self.texture_floor]
        return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)

    def excess_weights(self) -> FloatArray:
        values = [self.colour_excess] * COLOURS + [self.texture_excess]
        return np.asarray(values, dtype=np.float32).reshape(1, -1, 1, 1)


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True, slots=True)
class ScaleModel:
    """What enrollment learned at one scale; arrays are [channels, r, c] or [r, c]."""

    scale: str
    mean: FloatArray
    """Linear means of the four channels under the lighting of the enrollment's reference."""
    texture_signal: FloatArray
    texture_noise: FloatArray
    spread: FloatArray
    threshold: float
    peak: FloatArray
    """[colours, r, c]: the brightest the window's colours were at enrollment, under the reference
    light: its bright pixels (``features.cell_peaks``, relative to the mean) times the
    ``tail_quantile`` of its upward colour residual; infinite where its texture was clipped in most
    enrollment frames (never seen, so never compared)."""


@dataclass(frozen=True, slots=True)
class SceneModel:
    grid: GridSpec
    settings: Settings
    scales: tuple[ScaleModel, ...]
    light_spread: FloatArray
    """[rows, columns]: per fine cell, the band (in spreads) the light field's inliers lie in."""
    gain_low: FloatArray
    """[colours]: the lowest lighting gain per colour channel seen at enrollment (log units)."""
    gain_high: FloatArray
    grain: float = 1.0
    """The enrollment's median grain (``features.GRAIN``): the camera's noise then."""
    frames: int = 0
    normal_quantile: float = 0.0
    """The enrollment frames' q99 of the raw score (1.0 is the threshold)."""
    clip_level: FloatArray | None = None
    """[colours, rows, columns]: per fine cell, the colour at which its brightest normal part
    reaches ``bright`` (``bright`` times its mean over its peak; 0 where it always clips): the
    lighting gains leave out cells at or above it. None: ``bright``."""

    @property
    def fine(self) -> ScaleModel:
        return self.scales[0]
