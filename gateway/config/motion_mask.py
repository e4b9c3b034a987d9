"""Whether a camera's motion mask leaves any of the frame for motion to be seen in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gateway.config.fields import Point

COVERAGE_CELLS = 100
"""The frame is judged on the centres of this many cells across and down: a mask that leaves no
cell's centre (1% of the frame each way) is taken to cover the frame."""


def leaves_frame_uncovered(polygons: Sequence[Sequence[Point]]) -> bool:
    """Whether some cell centre lies outside every polygon (each a simple outline, as checked)."""
    centres = (np.arange(COVERAGE_CELLS, dtype=np.float64) + 0.5) / COVERAGE_CELLS
    grid_x, grid_y = np.meshgrid(centres, centres)
    xs, ys = grid_x.ravel(), grid_y.ravel()
    for polygon in polygons:
        left = min(x for x, _ in polygon)
        right = max(x for x, _ in polygon)
        top = min(y for _, y in polygon)
        bottom = max(y for _, y in polygon)
        # Only the centres within the polygon's bounds are tested: a small mask costs little.
        near = (xs >= left) & (xs <= right) & (ys >= top) & (ys <= bottom)
        covered = np.zeros(xs.shape, dtype=bool)
        covered[near] = _inside(polygon, xs[near], ys[near])
        xs, ys = xs[~covered], ys[~covered]
        if xs.size == 0:
            return False
    return True


def _inside(
    polygon: Sequence[Point], xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """The even-odd test: a ray to the right of each point crosses the outline an odd number of times."""
    inside = np.zeros(xs.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if y1 == y2:
            continue  # a level edge is crossed by no ray, and would divide by zero
        spans = (y1 > ys) != (y2 > ys)
        crossing_x = x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
        inside ^= spans & (xs < crossing_x)
    return inside
