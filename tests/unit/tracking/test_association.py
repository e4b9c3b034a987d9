"""IoU (plain and buffered) and the greedy assignment."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.tracking.association import greedy_assign, iou_matrix


@pytest.mark.parametrize(
    ("track", "detection", "margin", "expected"),
    [
        ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0), None, 1.0),
        ((0.0, 0.0, 1.0, 1.0), (0.5, 0.0, 1.5, 1.0), None, 1 / 3),
        ((0.0, 0.0, 1.0, 1.0), (2.0, 0.0, 3.0, 1.0), None, 0.0),
        # Buffered by 1 on every side: 3x3 boxes overlapping 2x3 of 4x3.
        ((0.0, 0.0, 1.0, 1.0), (1.0, 0.0, 2.0, 1.0), 1.0, 6 / 12),
        # Two boxes a gap apart still meet once widened.
        ((0.0, 0.0, 1.0, 1.0), (2.0, 0.0, 3.0, 1.0), 1.0, 3 / 15),
        ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0), 0.0, 1.0),
    ],
)
def test_iou(
    track: tuple[float, ...], detection: tuple[float, ...], margin: float | None, expected: float
) -> None:
    margins = None if margin is None else np.array([margin])
    result = iou_matrix(np.array([track]), np.array([detection]), margins)
    assert result.shape == (1, 1)
    assert result[0, 0] == pytest.approx(expected)


@pytest.mark.parametrize("buffered", [False, True])
def test_iou_matrix_holds_every_pair_with_its_own_tracks_margin(buffered: bool) -> None:
    rng = np.random.default_rng(3)
    corners = rng.uniform(0.0, 0.8, (7, 2))
    boxes = np.column_stack([corners, corners + rng.uniform(0.0, 0.2, (7, 2))])
    boxes[6, 2:] = boxes[6, :2]  # no area: its IoU with anything is 0 unbuffered
    tracks, detections = boxes[:3], boxes[3:]
    margins = rng.uniform(0.0, 0.1, 3) if buffered else None
    result = iou_matrix(tracks, detections, margins)
    assert result.shape == (3, 4)
    for row, track in enumerate(tracks):
        for column, detection in enumerate(detections):
            margin = None if margins is None else margins[row : row + 1]
            alone = iou_matrix(track[None, :], detection[None, :], margin)[0, 0]
            assert result[row, column] == alone
    if not buffered:
        assert not result[:, 3].any()


def test_iou_of_nothing_is_an_empty_matrix() -> None:
    assert iou_matrix(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)
    assert iou_matrix(np.ones((2, 4)), np.zeros((0, 4))).shape == (2, 0)


@pytest.mark.parametrize(
    ("similarity", "floor", "pairs"),
    [
        ([[0.9, 0.1], [0.2, 0.8]], 0.3, [(0, 0), (1, 1)]),
        ([[0.9, 0.1], [0.2, 0.8]], 0.85, [(0, 0)]),
        # Best first: row 1 takes column 0 (0.9); row 0 is left with column 1.
        ([[0.8, 0.7], [0.9, 0.1]], 0.5, [(1, 0), (0, 1)]),
        ([[0.5, 0.5]], 0.5, [(0, 0)]),  # a tie goes to the first column
        ([[0.1]], 0.2, []),
        ([[-1.0, 0.6]], 0.2, [(0, 1)]),  # -1 (labels differ) never matches
    ],
)
def test_greedy_assign(similarity: list[list[float]], floor: float, pairs: list[tuple[int, int]]) -> None:
    rows, columns = greedy_assign(np.array(similarity), floor)
    assert list(zip(rows.tolist(), columns.tolist(), strict=True)) == pairs
