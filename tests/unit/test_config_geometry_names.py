"""Two zones (or two lines) of a camera with the same name: the problem names the repeated name and
points at the second one's line. Before, it said "zone names must be unique within a camera" at the
camera's line, leaving the reader to find which of a dozen zones."""

from __future__ import annotations

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError

CAMERA = "cameras:\n  - id: gate\n    url: rtsp://127.0.0.1/gate\n"
ZONE = "polygon: [[0, 0], [1, 0], [1, 1]]"
LINE = "points: [[0.5, 0], [0.5, 1]], in_direction: [1, 0]"


@pytest.mark.parametrize(
    ("key", "names", "shape", "problem"),
    [
        ("zones", ["yard", "road", "yard"], ZONE, "g.yaml:7: cameras[0].zones[2].name: zone names"),
        ("lines", ["door", "door"], LINE, "g.yaml:6: cameras[0].lines[1].name: line names"),
    ],
)
def test_a_repeated_geometry_name_is_named_at_its_line(
    key: str, names: list[str], shape: str, problem: str
) -> None:
    text = CAMERA + f"    {key}:\n" + "".join(f"      - {{name: {name}, {shape}}}\n" for name in names)

    with pytest.raises(ConfigError) as caught:
        parse_config(text, "g.yaml")

    assert str(caught.value) == (
        f"{problem} must be unique within a camera: '{names[0]}' is also the name of {key}[0]"
    )
