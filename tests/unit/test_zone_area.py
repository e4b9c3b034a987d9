"""A zone's verdict (encloses an area, crosses itself) is the polygon's, whichever vertex it starts at:
a short first edge is no reason to call it flat, and a vertex placed on an edge touches it however
its coordinates round."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import ZoneConfig

SQUARE_WITH_A_SHORT_FIRST_EDGE = [(0.1, 0.1), (0.1000001, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]
SPIKE_BACK_OVER_AN_EDGE = [(0.1, 0.1), (0.2, 0.3), (0.125, 0.15), (0.125, 0.95)]
"""(0.125, 0.15) lies on the edge (0.1, 0.1)-(0.2, 0.3), a quarter of the way along; not exactly in floats."""
PINCHED_ONTO_AN_EDGE = [(0.1, 0.1), (0.9, 0.3), (0.9, 0.9), (0.5, 0.2), (0.1, 0.9)]
"""(0.5, 0.2) lies on the edge (0.1, 0.1)-(0.9, 0.3), halfway along."""


def _verdict(polygon: list[tuple[float, float]]) -> str | None:
    try:
        ZoneConfig.model_validate({"name": "yard", "polygon": polygon})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        return (
            "no area"
            if "has no area" in message
            else "crosses itself"
            if "crosses itself" in message
            else message
        )
    return None


def _orders(polygon: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Every way of writing the same outline: each vertex first, either way round."""
    rotations = [polygon[start:] + polygon[:start] for start in range(len(polygon))]
    return rotations + [rotation[::-1] for rotation in rotations]


@pytest.mark.parametrize(
    ("polygon", "verdict"),
    [
        (SQUARE_WITH_A_SHORT_FIRST_EDGE, None),
        ([(0.1, 0.1), (0.1 + 2e-6, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)], None),
        ([(0.2, 0.2), (0.8, 0.2), (0.8, 0.2000001), (0.8, 0.8), (0.2, 0.8)], None),
        (SPIKE_BACK_OVER_AN_EDGE, "crosses itself"),
        (PINCHED_ONTO_AN_EDGE, "crosses itself"),
        ([(0, 0), (1, 1), (1, 0), (0, 1)], "crosses itself"),
        ([(0.1, 0.1), (0.1000001, 0.1), (0.5, 0.1), (0.9, 0.1)], "no area"),
    ],
)
def test_the_verdict_is_the_same_whichever_vertex_comes_first(
    polygon: list[tuple[float, float]], verdict: str | None
) -> None:
    assert {_verdict(order) for order in _orders(polygon)} == {verdict}


def test_a_short_first_edge_does_not_make_a_zone_flat() -> None:
    # The reported case: the two first vertices a ten-millionth apart, the zone a square of 0.64.
    zone = ZoneConfig.model_validate({"name": "yard", "polygon": SQUARE_WITH_A_SHORT_FIRST_EDGE})
    assert len(zone.polygon) == 5


@pytest.mark.parametrize("height", [1.5e-6, 4e-6])
def test_a_thin_zone_over_the_least_area_is_accepted(height: float) -> None:
    # Its area, not the height of its other corners over the first edge, decides.
    polygon = [(0.0, 0.5), (1.0, 0.5), (1.0, 0.5 + height), (0.0, 0.5 + height)]
    assert {_verdict(order) for order in _orders(polygon)} == {None}


def test_a_thin_zone_under_the_least_area_has_none() -> None:
    polygon = [(0.0, 0.5), (1.0, 0.5), (1.0, 0.5000005), (0.0, 0.5000005)]
    assert {_verdict(order) for order in _orders(polygon)} == {"no area"}


@pytest.mark.parametrize(
    "polygon",
    [
        # Closed by a point a ten-millionth past the first, back along the first edge: a repeat, not a spike.
        [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.1000001, 0.1)],
        [(0.1, 0.1), (0.9, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.1, 0.1)],
    ],
)
def test_a_point_repeated_within_a_millionth_is_a_repeat(polygon: list[tuple[float, float]]) -> None:
    assert _verdict(polygon) is None


@pytest.mark.parametrize("polygon", [SPIKE_BACK_OVER_AN_EDGE, PINCHED_ONTO_AN_EDGE])
def test_a_vertex_on_another_edge_touches_it_however_its_coordinates_round(
    polygon: list[tuple[float, float]],
) -> None:
    # Written with exact coordinates ([[0, 0], [1, 0], [0.5, 0], [0.5, 1]]) such an outline was refused;
    # off the float grid it was accepted or refused as the rounding of its cross products fell.
    with pytest.raises(ValidationError, match=r"zone 'yard' crosses itself: the edge \[0\.1, 0\.1\]-"):
        ZoneConfig.model_validate({"name": "yard", "polygon": polygon})


def test_a_vertex_a_little_inside_another_edge_does_not_touch_it() -> None:
    # A ten-thousandth (half a pixel at 4K) inside the pinch: a narrow waist, not a crossing.
    polygon = [(0.1, 0.1), (0.9, 0.3), (0.9, 0.9), (0.5, 0.2001), (0.1, 0.9)]
    assert {_verdict(order) for order in _orders(polygon)} == {None}


def test_a_crossing_names_points_that_differ_in_the_seventh_digit_in_full() -> None:
    # Six significant digits would show [0.123457, 1] for a point written 0.1234567.
    with pytest.raises(ValidationError, match=r"meets the edge \[1, 0\]-\[0\.1234567, 1\]"):
        ZoneConfig.model_validate({"name": "yard", "polygon": [(0, 0), (1, 1), (1, 0), (0.1234567, 1)]})
