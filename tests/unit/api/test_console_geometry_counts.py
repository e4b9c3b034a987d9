"""``PUT /v1/cameras/{id}/geometry`` refuses more zones or lines than a camera may have before it
checks any of them: within the body limit a client could send thousands of zones, each checked for
self-crossing on the event loop, and stall every other request. The check of those it takes runs
off the event loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.camera import MAX_LINES, MAX_ZONES
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
