"""The tracking benchmark's scoring on a worked example, and its line-crossing truth on edge cases."""

from __future__ import annotations

import pytest

from bench.tracking_metrics import TruthBox, score
from bench.tracking_truth import crossings_of
from gateway.domain import Detection

A1, A2, A3 = (0.1, 0.1, 0.2, 0.2), (0.12, 0.1, 0.22, 0.2), (0.14, 0.1, 0.24, 0.2)
B1, B2, B4 = (0.6, 0.6, 0.7, 0.7), (0.58, 0.6, 0.68, 0.7), (0.54, 0.6, 0.64, 0.7)


def tracked(track_id: int, box: tuple[float, float, float, float]) -> Detection:
    return Detection("face", 0.9, box, track_id)


def test_worked_example() -> None:
    frames = [
        # Both objects found by tracks 10 and 20.
        (1, [TruthBox(1, A1, 1.0), TruthBox(2, B1, 1.0)], [tracked(10, A1), tracked(20, B1)]),
        # B's detection now carries track 30: one ID switch.
        (2, [TruthBox(1, A2, 1.0), TruthBox(2, B2, 1.0)], [tracked(10, A2), tracked(30, B2)]),
        # A found, B absent, a track (40) on nothing: one false positive. An untracked detection
        # (tentative) counts for nothing.
        (
            3,
            [TruthBox(1, A3, 1.0)],
            [tracked(10, A3), tracked(40, (0.8, 0.1, 0.9, 0.2)), Detection("face", 0.9, B1)],
        ),
        # A mostly hidden (don't care): its track is neither a hit nor a false positive; B missed.
        (4, [TruthBox(1, A3, 0.3), TruthBox(2, B4, 1.0)], [tracked(10, A3)]),
    ]
    result = score(frames)
    assert (result.frames, result.truth_boxes, result.objects) == (4, 6, 2)
    assert (result.id_switches, result.false_positives, result.misses) == (1, 1, 1)
    assert result.ignored_hypotheses == 1
    assert result.mota == pytest.approx(1 - 3 / 6)
    # Identity: A <-> 10 on 3 frames, B <-> 20 (or 30) on 1; 6 truth boxes, 6 tracked hypotheses.
    assert result.idf1 == pytest.approx(2 * 4 / (6 + 6))
    assert result.switches_per_100 == pytest.approx(100 / 6)
    assert result.detector_recall == pytest.approx(5 / 6)


LINE = ((0.5, 0.0), (0.5, 1.0))


@pytest.mark.parametrize(
    ("xs", "expected"),
    [
        ([0.4, 0.45, 0.55, 0.6], [(2, "right")]),
        ([0.6, 0.55, 0.45], [(2, "left")]),
        ([0.4, 0.5, 0.6], [(2, "right")]),  # exactly on the line: counted on the other side
        ([0.4, 0.5, 0.4], []),  # touching the line and turning back
        ([0.4, 0.5, 0.5, 0.4, 0.6], [(4, "right")]),
        ([0.4, None, 0.6], []),  # gone in between: no move seen across
        ([0.4, 0.6, 0.4], [(1, "right"), (2, "left")]),
    ],
)
def test_crossing_truth(xs: list[float | None], expected: list[tuple[int, str]]) -> None:
    positions = [None if x is None else (x, 0.5) for x in xs]
    found = [(index, "right" if move[0] > 0 else "left") for index, move in crossings_of(positions, *LINE)]
    assert found == expected


def test_a_move_past_the_end_of_the_segment_is_no_crossing() -> None:
    short = ((0.5, 0.0), (0.5, 0.4))
    assert crossings_of([(0.4, 0.5), (0.6, 0.5)], *short) == []
