"""``PUT /v1/cameras/{id}/geometry`` refuses more zones or lines than a camera may have before it
checks any of them: within the body limit a client could send thousands of zones, each checked for
self-crossing on the event loop, and stall every other request. The check of those it takes runs
off the event loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.camera import MAX_LINES, MAX_ZONES
from gateway.config.zones import MAX_ZONE_VERTICES
from tests.unit.api.test_console_geometry_numbers import line, refused_put, zone


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (
            {"zones": [zone([0.1, 0.5])] * (MAX_ZONES + 1), "lines": []},
            f"zones: 257 given, a camera has at most {MAX_ZONES}",
        ),
        (
            {"zones": [], "lines": [line([0.5, 0.0], [1, 0])] * (MAX_LINES + 1)},
            f"lines: 257 given, a camera has at most {MAX_LINES}",
        ),
    ],
)
def test_too_many_zones_or_lines_are_a_400_naming_the_limit(
    tmp_path: Path, document: dict[str, object], problem: str
) -> None:
    with refused_put(tmp_path, document, problem):
        pass


def test_a_zone_with_too_many_corners_is_a_400_naming_the_zone_by_its_name(tmp_path: Path) -> None:
    # The editor names zones, not their places in a list: "zones[1].polygon" named none it shows.
    corners = [[0.1 + 0.001 * index, 0.5] for index in range(MAX_ZONE_VERTICES + 20)]
    drawn = {"name": "zone-2", "polygon": corners}
    document: dict[str, object] = {"zones": [zone([0.1, 0.5]), drawn], "lines": []}
    problem = (
        f"zone 'zone-2': polygon: takes at most {MAX_ZONE_VERTICES} entries, got {MAX_ZONE_VERTICES + 20}"
    )
    with refused_put(tmp_path, document, problem):
        pass
