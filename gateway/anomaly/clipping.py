"""What clipping hides from the lighting estimate (numpy; ``export.py`` repeats it in the graph).

A camera channel at 255 says only that the surface is at least that bright: when the light moves, a
clipped cell does not follow it. The lighting gains (per colour channel, the median over fine cells
of log observed minus log mean, ``lighting.estimate_lighting``) took every cell as a measurement.

Found on the tuning set's third drift-only clip (``bench/clip_sets.py``: light that leaves the
enrolled range, exposure steps of both signs every 2.5 s, a colour-temperature shift, noise that
grows in low light, foliage and a lamp), offline on its 1140 normal frames, attributing every
frame's raw score to its window, scale and channel. With the median over every cell the clip flagged
5 normal frames (peak raw 1.07), all in red, all upward, all in windows whose red was white through
the enrollment (a mean of 260 under the reference light). The frames were those in which the red
light had fallen most: 0.39 (log) below the enrollment's, measured 0.24 and 0.26 below because the
cells white in red stayed at 255 and pulled the median up; the enrollment, measured the same way,
had seen red between -0.24 and +0.02 where exposure steps alone move it +-0.18. In the brightest
minutes the same bias ran the other way: red measured at +0.02 where it had risen 0.20, so every
unclipped cell looked too bright and the range test (``excess``) never saw the light leave the band.

Now the median is taken over the cells below the level at which their bright part clips
(``SceneModel.clip_level``: ``bright`` times the cell's mean over its brightest normal colour) and
whose mean did not clip at enrollment, and over every cell where none is left. The worst frames'
red is measured at -0.37 and -0.43 (true -0.39, -0.45) and the bright minutes' at +0.20 (true
+0.20); the enrolled red range becomes -0.40 .. +0.30. Blue and green in those minutes, where fewer
than an eighth of the cells are left, are still short (0.24 and 0.29 against 0.59 and 0.45); the
enrolled range, measured the same way, absorbs that. The clip then flags none (peak raw 0.83).

Tried and left out: treating a colour white through the enrollment as a lower bound (residuals count
only downwards, spread borrowed from the window's widest channel). Alone it removed those windows
from the enrollment's worst scores, the thresholds fell 17-23 %, and the biased gains flagged 13
normal frames with 2 drift alerts; with the median above it changed nothing measured on the tuning
set, so it would only have made white surfaces less sensitive.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gateway.anomaly.features import COLOURS, FloatArray

Mask = npt.NDArray[np.bool_]
CLIPPED_OFFSET = 1000.0
"""Added to a clipped cell's deviation (log units) so that it sorts after every unclipped one."""


def clipped_cells(
    logs: FloatArray,
    log_mean: FloatArray,
    log_bright: float,
    log_level: FloatArray | None = None,
) -> Mask:
    """[N, colours, rows, columns] of ``logs`` [N, 4, rows, columns]: cells whose colour clips now
    (its log colour at ``log_level``, default ``log_bright``) or did through the enrollment (its
    log mean at ``log_bright``): such a cell says only that the light is at least so much."""
    level = np.float32(log_bright) if log_level is None else log_level
    bright = np.float32(log_bright)
    clipped: Mask = (logs[:, :COLOURS] >= level) | (log_mean[None, :COLOURS] >= bright)
    return clipped


def unclipped_median(deviation: FloatArray, clipped: Mask) -> FloatArray:
    """Per frame and channel, the upper median of ``deviation`` [N, colours, cells] over the cells not
    ``clipped``; over all of them where every cell is clipped (as the graph computes it: clipped
    cells sorted last by ``CLIPPED_OFFSET``)."""
    cells = deviation.shape[-1]
    ordered = np.sort(np.where(clipped, deviation + np.float32(CLIPPED_OFFSET), deviation), axis=-1)
    unclipped = cells - clipped.sum(axis=-1, keepdims=True)
    counted = np.where(unclipped > 0, unclipped, cells)
    picked = np.take_along_axis(ordered, counted - (counted + 1) // 2, axis=-1)[..., 0]
    median: FloatArray = np.where(unclipped[..., 0] > 0, picked, picked - np.float32(CLIPPED_OFFSET))
    return median.astype(np.float32)
