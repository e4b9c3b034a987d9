"""Fitting a ``SceneModel`` on a camera's normal frames: means, spreads, peaks and thresholds.

What is learned and why, in the method's description (``model.py``, "Saturation", "Normal
variation" and "Score").
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gateway.anomaly.features import (
    COLOURS,
    GRAIN,
    MAD_TO_DEVIATION,
    FloatArray,
    GridSpec,
    check_cells,
    pool,
)
from gateway.anomaly.lighting import Lighting, estimate_lighting
from gateway.anomaly.model import DEFAULT_SETTINGS, ScaleModel, SceneModel, Settings
from gateway.anomaly.scoring import grain, raw_scores, residuals, z_scores

TEXTURE_SEEN = 0.5
"""A window's texture is learned where it was not clipped in at least this share of the enrollment
frames: the median, which its spread is built on, needs half of them."""


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
    check_cells(cells, grid)
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
