"""Two zones (or two lines) of a camera with the same name: the problem names the repeated name and
points at the second one's line. Before, it said "zone names must be unique within a camera" at the
camera's line, leaving the reader to find which of a dozen zones."""

from __future__ import annotations

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError

CAMERA = "cameras:\n  - id: gate\n    url: rtsp://127.0.0.1/gate\n"


def test_a_repeated_zone_name_is_named_at_its_line() -> None:
    text = CAMERA + (
        "    zones:\n"
        "      - {name: yard, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
        "      - {name: road, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
        "      - {name: yard, polygon: [[0, 0], [0, 1], [1, 1]]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "g.yaml")
    assert str(caught.value) == (
        "g.yaml:7: cameras[0].zones[2].name: zone names must be unique within a camera: 'yard' is also "
        "the name of zones[0]"
    )


def test_a_repeated_line_name_is_named_at_its_line() -> None:
    text = CAMERA + (
        "    lines:\n"
        "      - {name: door, points: [[0.5, 0], [0.5, 1]], in_direction: [1, 0]}\n"
        "      - {name: door, points: [[0.2, 0], [0.2, 1]], in_direction: [1, 0]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "g.yaml")
    assert str(caught.value) == (
        "g.yaml:6: cameras[0].lines[1].name: line names must be unique within a camera: 'door' is also "
        "the name of lines[0]"
    )
