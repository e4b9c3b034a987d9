"""How much one config may ask for: cameras, zones, lines and rules per camera, labels per rule, the
length of a URL. A bound is generous (a real site: 64 cameras, 50 zones on one), and going past it is
refused with the limit and the line, before a camera starts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.config.camera import (
    MAX_LABEL_LENGTH,
    MAX_LABELS,
    MAX_LINES,
    MAX_RULES,
    MAX_URL_LENGTH,
    MAX_ZONES,
)
from gateway.config.gateway import MAX_CAMERAS
from gateway.errors import ConfigError

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def _text(cameras: list[dict[str, Any]]) -> str:
    # One camera per line, so a camera's problem is reported on its own line.
    return "device_id: probe\ncameras:\n" + "".join(f"  - {json.dumps(camera)}\n" for camera in cameras)


def _camera(index: int = 0, **keys: Any) -> dict[str, Any]:
    return {
        "id": f"camera-{index}",
        "url": f"rtsp://10.0.0.1/stream{index}",
        "model": "person-detector",
        **keys,
    }


def _zones(count: int) -> list[dict[str, Any]]:
    return [{"name": f"zone-{index}", "polygon": SQUARE} for index in range(count)]


def _lines(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"line-{index}", "points": [[0, 0.5], [1, 0.5]], "in_direction": [0, 1]}
        for index in range(count)
    ]


def _rules(count: int) -> list[dict[str, Any]]:
    return [{"name": f"rule-{index}", "labels": ["person"]} for index in range(count)]


CASES: dict[str, tuple[Any, Any, str]] = {
    # what: (at the limit, past it, the problem's path)
    "cameras": (
        [_camera(index) for index in range(MAX_CAMERAS)],
        [_camera(index) for index in range(MAX_CAMERAS + 1)],
        "cameras",
    ),
    "zones": (
        [_camera(zones=_zones(MAX_ZONES))],
        [_camera(zones=_zones(MAX_ZONES + 1))],
        r"cameras\[0\]\.zones",
    ),
    "lines": (
        [_camera(lines=_lines(MAX_LINES))],
        [_camera(lines=_lines(MAX_LINES + 1))],
        r"cameras\[0\]\.lines",
    ),
    "rules": (
        [_camera(rules=_rules(MAX_RULES))],
        [_camera(rules=_rules(MAX_RULES + 1))],
        r"cameras\[0\]\.rules",
    ),
    "labels": (
        [_camera(rules=[{"name": "any", "labels": [f"label-{index}" for index in range(MAX_LABELS)]}])],
        [_camera(rules=[{"name": "any", "labels": [f"label-{index}" for index in range(MAX_LABELS + 1)]}])],
        r"cameras\[0\]\.rules\[0\]\.labels",
    ),
    "rule zones": (
        [_camera(zones=_zones(1), rules=[{"name": "any", "zones": ["zone-0"] * MAX_LABELS}])],
        [_camera(zones=_zones(1), rules=[{"name": "any", "zones": ["zone-0"] * (MAX_LABELS + 1)}])],
        r"cameras\[0\]\.rules\[0\]\.zones",
    ),
    "label length": (
        [_camera(rules=[{"name": "any", "labels": ["l" * MAX_LABEL_LENGTH]}])],
        [_camera(rules=[{"name": "any", "labels": ["l" * (MAX_LABEL_LENGTH + 1)]}])],
        r"cameras\[0\]\.rules\[0\]\.labels\[0\]",
    ),
    "url": (
        [_camera(url="rtsp://10.0.0.1/" + "s" * (MAX_URL_LENGTH - len("rtsp://10.0.0.1/")))],
        [_camera(url="rtsp://10.0.0.1/" + "s" * (MAX_URL_LENGTH + 1 - len("rtsp://10.0.0.1/")))],
        r"cameras\[0\]\.url",
    ),
}


@pytest.mark.parametrize("what", CASES)
def test_a_config_at_a_bound_loads_and_one_past_it_is_refused_with_the_limit_and_line(what: str) -> None:
    at_limit, past_limit, path = CASES[what]
    # Given a config at the bound: it loads
    parse_config(_text(at_limit), "gateway.yaml")
    # When one more is asked for
    with pytest.raises(ConfigError) as caught:
        parse_config(_text(past_limit), "gateway.yaml")
    # Then one problem, on the line of the key, naming the limit
    (problem,) = caught.value.problems
    line = 2 if what == "cameras" else 3
    limit = {"cameras": MAX_CAMERAS, "zones": MAX_ZONES, "lines": MAX_LINES, "rules": MAX_RULES}.get(what)
    limit = limit or (
        MAX_URL_LENGTH if what == "url" else MAX_LABEL_LENGTH if what == "label length" else MAX_LABELS
    )
    assert re.fullmatch(
        rf"gateway\.yaml:{line}: {path}: .*at most {limit} (entries|characters).*", str(problem)
    )
