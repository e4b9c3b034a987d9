"""Cells measured on another grid than the model's are refused by name, when scored and when fitted."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.anomaly.features import GridSpec, cell_peaks, fine_cells, temporal_noise
from gateway.anomaly.fitting import fit
from gateway.anomaly.scoring import raw_scores

GRID = GridSpec(height=60, width=80, rows=6, columns=8)
FINER = GridSpec(height=60, width=80, rows=12, columns=16)


def _frames(count: int) -> np.ndarray[tuple[int, ...], np.dtype[np.uint8]]:
    rng = np.random.default_rng(5)
    scene = rng.uniform(40, 200, size=(1, 60, 80, 3))
    return np.clip(scene + rng.normal(0, 3, size=(count, 60, 80, 3)), 0, 255).astype(np.uint8)


def test_scoring_cells_of_another_grid_names_both_grids() -> None:
    # Given a model fitted on the 6x8 grid
    frames = _frames(6)
    model = fit(fine_cells(frames, GRID), temporal_noise(frames, GRID), cell_peaks(frames, GRID), GRID)
    # When frames are measured on a 12x16 grid and scored, then the mismatch is named
    with pytest.raises(ValueError, match=r"cells must be \[N, 5, 6, 8\] .*6x8 grid\), got \[2, 5, 12, 16\]"):
        raw_scores(model, fine_cells(frames[:2], FINER))


def test_fitting_cells_of_another_grid_names_both_grids() -> None:
    frames = _frames(6)
    with pytest.raises(ValueError, match=r"6x8 grid\), got \[6, 5, 12, 16\]"):
        fit(fine_cells(frames, FINER), temporal_noise(frames, FINER), cell_peaks(frames, FINER), GRID)
