"""A rule's ``exclude_zones`` in the config file: each name must be one of the camera's zones, none
may be in its ``zones`` too, and a line_crossing rule takes neither (its ``zones`` were silently
ignored: a crossing is judged on the line alone). Each problem points at the key's own line."""

from __future__ import annotations

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError

CAMERA = """\
cameras:
  - id: gate
    url: rtsp://127.0.0.1/gate
    model: person-detector
    zones:
      - {name: yard, polygon: [[0, 0.5], [1, 0.5], [1, 1]]}
      - {name: poster, polygon: [[0, 0.5], [0.3, 0.5], [0.3, 1]]}
    lines: [{name: door, points: [[0.5, 0], [0.5, 1]], in_direction: [1, 0]}]
    rules:
      - name: someone
"""


def problem(rule: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(CAMERA + rule, "g.yaml")
    return str(caught.value)


def test_excluded_zones_are_read_in_their_order() -> None:
    config = parse_config(CAMERA + "        zones: [yard]\n        exclude_zones: [poster]\n")
    assert config.cameras[0].rules[0].exclude_zones == ["poster"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "        exclude_zones: [postre]\n",
            "g.yaml:11: cameras[0].rules[0].exclude_zones: rule 'someone' names unknown zones ['postre'] "
            "(did you mean 'poster'? zones: ['yard', 'poster'])",
        ),
        (
            "        zones: [yard, poster]\n        exclude_zones: [poster]\n",
            "g.yaml:12: cameras[0].rules[0].exclude_zones: zone 'poster' is in both zones and exclude_zones: "
            "a zone either matches or never does",
        ),
        (
            "        type: line_crossing\n        line: door\n        zones: [yard]\n",
            "g.yaml:13: cameras[0].rules[0].zones: 'zones' belong to presence, loiter, count and stationary "
            "rules: a line_crossing rule counts every crossing of its line",
        ),
        (
            "        type: line_crossing\n        line: door\n        exclude_zones: [poster]\n",
            "g.yaml:13: cameras[0].rules[0].exclude_zones: 'exclude_zones' belong to presence, loiter, count "
            "and stationary rules: a line_crossing rule counts every crossing of its line",
        ),
    ],
    ids=["unknown", "both", "crossing zones", "crossing exclude_zones"],
)
def test_a_misplaced_excluded_zone_is_named_at_its_line(rule: str, expected: str) -> None:
    assert problem(rule) == expected
