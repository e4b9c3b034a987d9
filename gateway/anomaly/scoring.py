"""Frames scored against a fitted ``SceneModel``: residuals, z-scores, per-cell and per-frame scores.

What is expected of a window under the frame's light, and how a score is made of it, in the method's
description (``model.py``, "Expected values", "Saturation" and "Score").
"""

from __future__ import annotations

import numpy as np

from gateway.anomaly.features import (
    COLOURS,
    GRAIN,
    FloatArray,
    check_cells,
    pool,
    spread_to_fine,
    upper_median,
)
from gateway.anomaly.lighting import Lighting, estimate_lighting
from gateway.anomaly.model import ScaleModel, SceneModel, Settings


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
    check_cells(cells, grid)
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
