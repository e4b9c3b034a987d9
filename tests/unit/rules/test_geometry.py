from __future__ import annotations

import pytest

from gateway.positions import bottom_centre, point_in_polygon
from gateway.rules.geometry import Zone

SQUARE = ((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75))
# A U shape: the notch (0.4..0.6, 0.0..0.6) is outside.
U_SHAPE = ((0.0, 0.0), (0.4, 0.0), (0.4, 0.6), (0.6, 0.6), (0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


@pytest.mark.parametrize(
    ("polygon", "point", "inside"),
    [
        (SQUARE, (0.5, 0.5), True),
        (SQUARE, (0.1, 0.5), False),
        (SQUARE, (0.5, 0.9), False),
        (SQUARE, (0.75, 0.5), True),  # on an edge
        (SQUARE, (0.25, 0.25), True),  # on a vertex
        (U_SHAPE, (0.5, 0.3), False),  # in the notch
        (U_SHAPE, (0.5, 0.8), True),
        (U_SHAPE, (0.2, 0.3), True),
        (U_SHAPE, (0.5, 1.0), True),  # bottom edge of the frame
    ],
)
def test_point_in_polygon(
    polygon: tuple[tuple[float, float], ...], point: tuple[float, float], inside: bool
) -> None:
    assert point_in_polygon(point, polygon) is inside


def test_a_box_is_where_its_bottom_centre_is() -> None:
    zone = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
    assert bottom_centre((0.2, 0.1, 0.4, 0.6)) == pytest.approx((0.3, 0.6))
    # Given a tall box reaching into the yard from above, only its feet decide.
    assert zone.contains_box((0.2, 0.1, 0.4, 0.6))
    assert not zone.contains_box((0.2, 0.1, 0.4, 0.45))
