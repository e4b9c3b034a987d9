"""A frame's lighting against the learned means: a gain per colour channel and a smooth field.

How and why, in the method's description (``model.py``, "Lighting").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.anomaly.clipping import clipped_cells, unclipped_median
from gateway.anomaly.features import (
    COLOURS,
    MAD_TO_DEVIATION,
    REGION_COLUMNS,
    REGION_ROWS,
    FloatArray,
    GridSpec,
    basis,
    region_basis,
    upper_median,
)
from gateway.anomaly.model import Settings


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
