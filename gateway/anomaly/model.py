"""The scene-anomaly model in numpy: lighting, fitting on normal frames, and scoring.

This is the reference the ONNX graph (``export.py``) reproduces operation for operation, so the
thresholds chosen here on the enrollment frames mean the same thing inside the exported model. The
cell statistics (four linear channels per window, three scales) are in ``features.py``; how the
method and its constants were chosen, and how it compares with OpenCV's background subtractors, is
in the package docstring (``gateway/anomaly/__init__.py``).

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

import dataclasses
from dataclasses import dataclass

import numpy as np

from gateway.anomaly.clipping import clipped_cells, unclipped_median
from gateway.anomaly.features import (
    COLOURS,
    GRAIN,
    MAD_TO_DEVIATION,
    REGION_COLUMNS,
    REGION_ROWS,
    SCALES,
    FloatArray,
    GridSpec,
    basis,
    pool,
    region_basis,
    spread_to_fine,
    upper_median,
)


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
TEXTURE_SEEN = 0.5
"""A window's texture is learned where it was not clipped in at least this share of the enrollment
frames: the median, which its spread is built on, needs half of them."""


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


@dataclass(frozen=True, slots=True)
class Lighting:
    gain: FloatArray
    """[N, colours]: per colour channel, log."""
    field: FloatArray
    """[N, basis terms]: the smooth field's coefficients, log (zero terms: none)."""

    def at(self, grid: GridSpec, scale: str, terms: int) -> tuple[FloatArray, FloatArray]:
        """(colour light [N, 3, r, c], luma light [N, 1, r, c]) at the windows of ``scale``."""
        rows, columns = grid.shape(scale)
        spatial = (self.field @ basis(grid, scale, terms).T).reshape(-1, 1, rows, columns)
        colour: FloatArray = (self.gain[:, :, None, None] + spatial).astype(np.float32)
        return colour, colour.mean(axis=1, keepdims=True)


def estimate_lighting(
    logs: FloatArray,
    log_mean: FloatArray,
    light_spread: FloatArray,
    grid: GridSpec,
    settings: Settings,
    *,
    clip_level: FloatArray | None = None,
) -> Lighting:
    """``logs`` [N, 4, rows, columns] of fine cells against ``log_mean`` [4, rows, columns];
    ``clip_level`` [colours, rows, columns]: the colour from which a cell's bright part clips
    (``SceneModel.clip_level``; None: ``bright`` everywhere)."""
    count = logs.shape[0]
    deviation = (logs[:, :COLOURS] - log_mean[:COLOURS]).reshape(count, COLOURS, grid.cells)
    gain = upper_median(deviation)
    if settings.unclipped_gain:
        log_bright = float(np.log(settings.bright + settings.colour_offset))
        level = None if clip_level is None else np.log(clip_level + np.float32(settings.colour_offset))
        clipped = clipped_cells(logs, log_mean, log_bright, level)
        gain = unclipped_median(deviation, clipped.reshape(deviation.shape))
    field = np.zeros((count, settings.basis_terms), dtype=np.float32)
    if settings.basis_terms <= 1:
        return Lighting(gain.astype(np.float32), field)
    shared = (deviation - gain[:, :, None]).mean(axis=1)
    region_shape = (
        count,
        REGION_ROWS,
        grid.rows // REGION_ROWS,
        REGION_COLUMNS,
        grid.columns // REGION_COLUMNS,
    )
    regions = (
        shared.reshape(region_shape).transpose(0, 1, 3, 2, 4).reshape(count, REGION_ROWS * REGION_COLUMNS, -1)
    )
    medians = upper_median(regions)
    coarse = region_basis(grid, settings.basis_terms)
    start = np.linalg.pinv(coarse).T.astype(np.float32)
    field = medians @ start
    for _ in range(settings.region_refits):
        # regions an object covers more than half of are outliers among the regions
        off = np.abs(medians - field @ coarse.T)
        scale = MAD_TO_DEVIATION * upper_median(off)[:, None] + np.float32(settings.region_floor)
        field = np.where(off <= settings.region_inlier * scale, medians, field @ coarse.T) @ start
    cells = basis(grid, "fine", settings.basis_terms)
    projection = np.linalg.pinv(cells).T.astype(np.float32)
    band = settings.inlier * light_spread.reshape(1, -1)
    for _ in range(settings.refits):
        fitted = field @ cells.T
        field = np.where(np.abs(shared - fitted) <= band, shared, fitted) @ projection
    return Lighting(gain.astype(np.float32), field.astype(np.float32))


def _expected(
    scale: ScaleModel,
    colour_light: FloatArray,
    luma_light: FloatArray,
    noisier: FloatArray,
    settings: Settings,
) -> tuple[FloatArray, FloatArray]:
    """(log expected [N, 4, r, c], bright [N, 1, r, c]) under the frame's lighting and noise."""
    colour = np.minimum(scale.mean[None, :COLOURS] * np.exp(colour_light), np.float32(255.0))
    texture = scale.texture_signal * np.exp(luma_light) + scale.texture_noise * noisier
    linear = np.concatenate([colour, texture], axis=1)
    bright = (scale.peak[None] * np.exp(colour_light)).max(axis=1, keepdims=True) >= settings.bright
    return np.log(linear + settings.offsets()).astype(np.float32), bright


def residuals(
    model: SceneModel, cells: FloatArray, lighting: Lighting | None = None
) -> tuple[dict[str, FloatArray], Lighting]:
    """Per scale, log observed - log expected [N, 4, r, c] (texture 0 where bright)."""
    settings, grid = model.settings, model.grid
    scored = cells[:, :GRAIN]
    logs = np.log(scored + settings.offsets())
    if lighting is None:
        log_mean = np.log(model.fine.mean + settings.offsets()[0])
        lighting = estimate_lighting(
            logs, log_mean, model.light_spread, grid, settings, clip_level=model.clip_level
        )
    noisier = (grain(cells) / np.float32(model.grain)).reshape(-1, 1, 1, 1)
    if not settings.follow_noise:
        noisier = np.ones_like(noisier)
    out = {}
    for scale in model.scales:
        colour_light, luma_light = lighting.at(grid, scale.scale, settings.basis_terms)
        observed = np.log(pool(scored, scale.scale) + settings.offsets())
        expected, bright = _expected(scale, colour_light, luma_light, noisier, settings)
        residual = observed - expected
        residual[:, COLOURS:] = np.where(bright, np.float32(0.0), residual[:, COLOURS:])
        out[scale.scale] = residual.astype(np.float32)
    return out, lighting


def grain(cells: FloatArray) -> FloatArray:
    """Per frame, the median over fine cells of the grain channel -> [N]."""
    return upper_median(cells[:, GRAIN].reshape(cells.shape[0], -1))


def _excess(model: SceneModel, lighting: Lighting) -> FloatArray:
    outside = np.maximum(lighting.gain - model.gain_high, 0) + np.maximum(model.gain_low - lighting.gain, 0)
    excess: FloatArray = outside.max(axis=1).reshape(-1, 1, 1, 1)
    return excess


def z_scores(model: SceneModel, cells: FloatArray) -> dict[str, FloatArray]:
    """Per scale, ``|residual| / spread`` [N, 4, r, c] (before the scale's threshold)."""
    found, lighting = residuals(model, cells)
    widen = model.settings.excess_weights() * _excess(model, lighting)
    return {
        scale.scale: (np.abs(found[scale.scale]) / np.sqrt(scale.spread**2 + widen**2)).astype(np.float32)
        for scale in model.scales
    }


def cell_scores(model: SceneModel, cells: FloatArray) -> FloatArray:
    """Per fine cell the raw score (1.0 = threshold) -> [N, rows, columns]."""
    scores = z_scores(model, cells)
    combined: FloatArray | None = None
    for scale in model.scales:
        windows = scores[scale.scale].max(axis=1) / np.float32(scale.threshold)
        fine = spread_to_fine(windows, scale.scale)
        combined = fine if combined is None else np.maximum(combined, fine)
    if combined is None:
        raise ValueError("the model has no scales")
    return combined.astype(np.float32)


def raw_scores(model: SceneModel, cells: FloatArray) -> FloatArray:
    """Per frame raw score (max over cells) -> [N]."""
    scores: FloatArray = cell_scores(model, cells).reshape(cells.shape[0], -1).max(axis=1)
    return scores


def squash(raw: FloatArray) -> FloatArray:
    """Raw scores -> 0..1 with 0.5 at the threshold (what the graph outputs)."""
    squashed: FloatArray = (raw / (raw + np.float32(1.0))).astype(np.float32)
    return squashed


def _robust_spread(residual: FloatArray, floor: FloatArray) -> FloatArray:
    """Per window and channel over the frames; NaN marks a frame left out."""
    deviation = np.abs(residual - np.nanmedian(residual, axis=0))
    spread: FloatArray = np.sqrt((MAD_TO_DEVIATION * np.nanmedian(deviation, axis=0)) ** 2 + floor**2)
    return spread.astype(np.float32)


def _fine_means(
    cells: FloatArray, grid: GridSpec, settings: Settings
) -> tuple[FloatArray, FloatArray, Lighting]:
    """(linear means, fine spread, lighting) of the enrollment, each re-estimated with the others."""
    logs = np.log(cells + settings.offsets())
    log_mean = np.median(logs, axis=0)
    spread = np.full(log_mean.shape, 0.1, dtype=np.float32)
    mean = np.median(cells, axis=0)
    lighting = Lighting(
        np.zeros((cells.shape[0], COLOURS), np.float32), np.zeros((cells.shape[0], 1), np.float32)
    )
    for _ in range(settings.fit_iterations):
        light_spread = spread[:COLOURS].mean(axis=0)
        lighting = estimate_lighting(logs, log_mean, light_spread, grid, settings)
        colour_light, luma_light = lighting.at(grid, "fine", settings.basis_terms)
        light = np.concatenate([colour_light, luma_light], axis=1)
        mean = np.median(cells / np.exp(light), axis=0).astype(np.float32)
        log_mean = np.log(mean + settings.offsets()[0])
        spread = _robust_spread(logs - log_mean - light, settings.floors())
    return mean, spread, lighting


def fit(
    cells: FloatArray,
    noise: FloatArray,
    peaks: FloatArray,
    grid: GridSpec,
    settings: Settings = DEFAULT_SETTINGS,
) -> SceneModel:
    """Learn the normal scene from the enrollment's fine cells [N, 5, rows, columns], camera noise
    [pairs, rows, columns] and cell peaks [N, 3, rows, columns] (``features.fine_cells``,
    ``features.temporal_noise`` and ``features.cell_peaks``)."""
    count = cells.shape[0]
    if count < 2 or noise.shape[0] < 1:
        raise ValueError("enrollment needs at least 2 frames")
    if peaks.shape != (count, COLOURS, *cells.shape[2:]):
        raise ValueError(f"peaks must be [{count}, {COLOURS}, rows, columns], got {list(peaks.shape)}")
    mean, fine_spread, _ = _fine_means(cells[:, :GRAIN], grid, settings)
    # light-independent: a gain scales a cell's bright pixels and its mean alike
    above_mean = np.median(peaks / np.maximum(cells[:, :COLOURS], 1.0), axis=0)
    bright_pixels = mean[:COLOURS] * (above_mean if settings.pixel_peaks else np.float32(1.0))
    sigma = np.median(noise, axis=0)
    sigma = np.minimum(sigma, settings.noise_cap * np.median(sigma))
    noise_texture = (settings.noise_gradient * sigma).astype(np.float32)
    scales = []
    for name in settings.scales:
        scale_mean = pool(mean, name)
        texture_noise = np.minimum(pool(noise_texture, name), scale_mean[COLOURS])
        scales.append(
            ScaleModel(
                name,
                scale_mean,
                scale_mean[COLOURS] - texture_noise,
                texture_noise,
                np.ones_like(scale_mean),
                1.0,
                np.zeros_like(scale_mean[:COLOURS]),
            )
        )
    provisional = SceneModel(
        grid,
        settings,
        tuple(scales),
        fine_spread[:COLOURS].mean(axis=0),
        np.zeros(COLOURS, np.float32),
        np.zeros(COLOURS, np.float32),
        max(float(np.median(grain(cells))), 1e-3),
    )
    # provisional peaks of zero: every texture residual compared, saturating or not, sorted out below
    found, lighting = residuals(provisional, cells)
    for index, scale in enumerate(provisional.scales):
        peak = pool(bright_pixels, scale.scale)
        if settings.headroom:
            upward = np.quantile(found[scale.scale][:, :COLOURS], settings.tail_quantile, axis=0)
            peak = peak * np.exp(np.maximum(upward, 0.0))
        colour_light, _ = lighting.at(grid, scale.scale, settings.basis_terms)
        saturating = (peak[None] * np.exp(colour_light)).max(axis=1) >= settings.bright
        seen = saturating.mean(axis=0) < TEXTURE_SEEN
        # texture is learned from the frames in which it was not clipped; where it was clipped in most
        # of them it was never seen, and is never compared (an infinite peak always saturates)
        learned = found[scale.scale].copy()
        unseen = np.where(seen, np.nan, np.float32(0.0))
        learned[:, COLOURS] = np.where(saturating, unseen, learned[:, COLOURS])
        spread = _robust_spread(learned, settings.floors())
        tail = np.nanquantile(np.abs(learned) / spread, settings.tail_quantile, axis=0)
        widened = (spread * np.maximum(1.0, tail / settings.tail_reference)).astype(np.float32)
        peak = np.where(seen, peak, np.inf).astype(np.float32)
        scales[index] = dataclasses.replace(scale, spread=widened, peak=peak)
    light_spread = scales[0].spread[:COLOURS].mean(axis=0)
    fine_peak = scales[0].peak
    clip_level = None
    if settings.unclipped_gain:
        below = settings.bright * scales[0].mean[:COLOURS] / np.maximum(fine_peak, np.float32(1e-3))
        clip_level = np.where(np.isfinite(fine_peak), below, np.float32(0.0)).astype(np.float32)
    fitted = dataclasses.replace(
        provisional,
        scales=tuple(scales),
        light_spread=light_spread,
        clip_level=clip_level,
        gain_low=lighting.gain.min(axis=0),
        gain_high=lighting.gain.max(axis=0),
    )
    scores = z_scores(fitted, cells)
    for index, scale in enumerate(fitted.scales):
        per_frame = scores[scale.scale].reshape(count, -1).max(axis=1)
        threshold = max(
            settings.min_threshold, settings.margin * float(np.quantile(per_frame, settings.quantile))
        )
        scales[index] = dataclasses.replace(scale, threshold=threshold)
    final = dataclasses.replace(fitted, scales=tuple(scales), frames=count)
    quantile = float(np.quantile(raw_scores(final, cells), settings.quantile))
    return dataclasses.replace(final, normal_quantile=quantile)
