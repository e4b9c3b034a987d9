"""A counting line whose ``in_direction`` is oblique to it (config allows any direction that does
not run along the line): which way a crossing went is the side the object ends on, the side
``in_direction`` points to being ``in``, whatever angle the object walked at."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import CameraConfig
from gateway.domain import Direction, FrameResult, ModelRef, Track
from gateway.pipeline.specs import camera_rules
from gateway.rules.engine import RuleEngine
from gateway.rules.geometry import Line

DETECTOR = ModelRef("person-detector", 1)
DIAGONAL = Line("aisle", (0.3, 0.3), (0.7, 0.7), (1.0, 0.0))
"""A line at 45 degrees whose in arrow points right: right of and above the diagonal is ``in``."""
OUT_SIDE, IN_SIDE = (0.45, 0.6), (0.40, 0.30)
"""Bottom-centres either side of the diagonal; from the first to the second is a move up and a
little left, crossing into the ``in`` side with a negative dot product with the arrow."""


def camera(direction: str) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "gate",
            "url": "rtsp://127.0.0.1/stream",
            "model": "person-detector",
            "lines": [{"name": "aisle", "points": [[0.3, 0.3], [0.7, 0.7]], "in_direction": [1, 0]}],
            "rules": [
                {
                    "name": "entering",
                    "type": "line_crossing",
                    "line": "aisle",
                    "direction": direction,
                    "labels": ["person"],
                }
            ],
        }
    )


def track_at(x: float, y: float) -> Track:
    return Track(1, "person", 0.9, (x - 0.05, y - 0.2, x + 0.05, y), True, 0.0)


def directions(direction: str, *positions: tuple[float, float]) -> list[Any]:
    engine = RuleEngine([camera_rules(camera(direction))])
    events = []
    for index, (x, y) in enumerate(positions):
        result = FrameResult("gate", index, float(index), DETECTOR, (), tracks=(track_at(x, y),))
        events += engine.process(result)
    return [event.direction for event in events]


def test_the_move_used_for_the_case_crosses_against_the_arrow() -> None:
    # The premise: the move's dot product with in_direction is negative, and it crosses the segment.
    move = (IN_SIDE[0] - OUT_SIDE[0], IN_SIDE[1] - OUT_SIDE[1])
    assert move[0] * DIAGONAL.in_direction[0] + move[1] * DIAGONAL.in_direction[1] < 0
    assert DIAGONAL.side(OUT_SIDE) != DIAGONAL.side(IN_SIDE)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(OUT_SIDE, IN_SIDE, Direction.IN, id="into the arrow's side against the arrow is in"),
        pytest.param(IN_SIDE, OUT_SIDE, Direction.OUT, id="out of the arrow's side along the arrow is out"),
        pytest.param((0.4, 0.6), (0.6, 0.4), Direction.IN, id="square across, into the arrow's side, is in"),
        pytest.param((0.6, 0.4), (0.4, 0.6), Direction.OUT, id="square across, out of it, is out"),
    ],
)
def test_the_side_the_move_ends_on_decides_the_direction(
    before: tuple[float, float], after: tuple[float, float], expected: Direction
) -> None:
    assert DIAGONAL.crossing(before, after) is expected


def test_an_in_rule_counts_a_crossing_made_nearly_along_an_oblique_line() -> None:
    assert directions("in", OUT_SIDE, IN_SIDE) == [Direction.IN]
    assert directions("out", OUT_SIDE, IN_SIDE) == []
    assert directions("any", OUT_SIDE, IN_SIDE, OUT_SIDE) == [Direction.IN, Direction.OUT]


def test_an_in_direction_square_to_the_line_still_agrees_with_the_dot_product() -> None:
    door = Line("door", (0.5, 0.2), (0.5, 0.8), (1.0, 0.0))
    assert door.crossing((0.4, 0.5), (0.6, 0.45)) is Direction.IN
    assert door.crossing((0.6, 0.45), (0.4, 0.5)) is Direction.OUT
    flipped = Line("door", (0.5, 0.2), (0.5, 0.8), (-1.0, 0.0))
    assert flipped.crossing((0.4, 0.5), (0.6, 0.45)) is Direction.OUT
