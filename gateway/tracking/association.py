"""Matching tracks to detections: IoU between boxes, then a one-to-one assignment above a floor.

``greedy_assign`` takes pairs in order of falling IoU and keeps each whose track and detection are
both still free. It is not the optimal (Hungarian) assignment, but on boxes from a detector after
non-maximum suppression the two differ only where one detection overlaps two predictions almost
equally, and there neither is right. ``bench/tracking_compare.py`` measured it against
``scipy.optimize.linear_sum_assignment`` on the tracking benchmark's recorded detections: the same
ids on every frame, at the same CPU cost, without scipy; see ``gateway/tracking/tracker.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Pairs = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]
"""(rows, columns) of the matched pairs, equal lengths."""
Assign = Callable[[Array, float], Pairs]
"""(similarity matrix tracks x detections, floor) -> pairs, each with similarity >= floor."""

_NONE: Pairs = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))


def iou_matrix(tracks: Array, detections: Array, margins: Array | None = None) -> Array:
    """IoU of every row of ``tracks`` with every row of ``detections`` (both ``x1, y1, x2, y2``).

    ``margins`` (one per track) widens both boxes of each pair by that much on every side first:
    the buffered IoU of C-BIoU, which still sees two boxes of a fast object as one object when
    they do not overlap at all.
    """
    if not tracks.size or not detections.size:
        return np.zeros((tracks.shape[0], detections.shape[0]))
    # Corners and sides as (x, y) pairs: half the numpy calls of one per coordinate, and this runs
    # several times per frame per camera.
    near = np.maximum(tracks[:, None, :2], detections[None, :, :2])
    far = np.minimum(tracks[:, None, 2:], detections[None, :, 2:])
    track_sides = tracks[:, 2:] - tracks[:, :2]
    detection_sides = detections[:, 2:] - detections[:, :2]
    if margins is not None:
        grow = 2.0 * margins
        far += grow[:, None, None]
        track_area = (track_sides[:, 0] + grow) * (track_sides[:, 1] + grow)
        grown = detection_sides[None, :, :] + grow[:, None, None]
        detection_area = grown[..., 0] * grown[..., 1]
    else:
        track_area = track_sides[:, 0] * track_sides[:, 1]
        detection_area = (detection_sides[:, 0] * detection_sides[:, 1])[None, :]
    sides = np.maximum(far - near, 0.0)
    overlap = sides[..., 0] * sides[..., 1]
    union = track_area[:, None] + detection_area - overlap
    result: Array = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0.0)
    return result


def greedy_assign(similarity: Array, floor: float) -> Pairs:
    """Pairs with similarity >= ``floor``, best first, each row and column used once."""
    rows, columns = np.nonzero(similarity >= floor)
    if not rows.size:
        return _NONE
    if rows.size == 1:
        return rows, columns
    # A stable sort on the negated value keeps ties in row-major order: the same input always
    # gives the same pairs.
    order = np.argsort(-similarity[rows, columns], kind="stable")
    used_rows: set[int] = set()
    used_columns: set[int] = set()
    kept_rows: list[int] = []
    kept_columns: list[int] = []
    for row, column in zip(rows[order].tolist(), columns[order].tolist(), strict=True):
        if row in used_rows or column in used_columns:
            continue
        used_rows.add(row)
        used_columns.add(column)
        kept_rows.append(row)
        kept_columns.append(column)
    return np.asarray(kept_rows, dtype=np.intp), np.asarray(kept_columns, dtype=np.intp)
