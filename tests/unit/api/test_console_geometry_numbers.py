"""``PUT /v1/cameras/{id}/geometry`` holds coordinates to what the config file is held to: a boolean
or a string where a number belongs is a 400 naming it, and nothing is written; ints are numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.unit.api.harness import ServedApi

CONFIG = """\
cameras:
  - id: gate
    url: rtsp://10.0.0.5/stream1
    zones: [{name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}]
"""
PATH = "/v1/cameras/gate/geometry"
BOOLEAN = "expected a number, got the boolean true"


def zone(first: object) -> dict[str, object]:
    return {"name": "yard", "polygon": [first, [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}


def line(first: object, in_direction: object) -> dict[str, object]:
    return {"name": "door", "points": [first, [0.5, 1.0]], "in_direction": in_direction}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"zones": [zone([True, 0.5])], "lines": []}, f"zone 'yard': polygon[0][0]: {BOOLEAN}"),
        (
            {"zones": [zone(["0.5", 0.2])], "lines": []},
            "zone 'yard': polygon[0][0]: expected a number, got the string '0.5'",
        ),
        (
            {"zones": [], "lines": [line([0.5, False], [1, 0])]},
            "line 'door': points[0][1]: expected a number",
        ),
        ({"zones": [], "lines": [line([0.5, 0.0], [True, 0])]}, f"line 'door': in_direction[0]: {BOOLEAN}"),
        (
            {"zones": [], "lines": [line([0.5, 0.0], ["1", "0"])]},
            "line 'door': in_direction[0]: expected a number, got the string '1'",
        ),
    ],
)
def test_a_boolean_or_a_string_coordinate_is_a_400_naming_it(
    tmp_path: Path, document: dict[str, object], problem: str
) -> None:
    with refused_put(tmp_path, document, problem) as api:
        assert api.get(PATH).json()["zones"][0]["polygon"][0] == [0.1, 0.5]


@contextmanager
def refused_put(tmp_path: Path, document: dict[str, object], problem: str) -> Iterator[ServedApi]:
    """The app over a config file, after a PUT of ``document`` that must be a 400 naming ``problem``
    and must leave the file as it was."""
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as api:
        reply = api.request("PUT", PATH, json.dumps(document).encode(), {"Content-Type": "application/json"})
        assert reply.status == 400, reply.body
        assert problem in reply.json()["error"]
        assert config.read_text() == CONFIG
        yield api


def test_int_coordinates_are_saved(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    document = {"zones": [zone([0, 0])], "lines": [line([1, 0], [-1, 0])]}
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as api:
        reply = api.request("PUT", PATH, json.dumps(document).encode(), {"Content-Type": "application/json"})
        assert reply.status == 200, reply.body
        saved = reply.json()
    assert saved["zones"][0]["polygon"][0] == [0.0, 0.0]
    assert saved["lines"][0]["points"][0] == [1.0, 0.0]
    assert saved["lines"][0]["in_direction"] == [-1.0, 0.0]
    assert "polygon: [[0.0, 0.0], [0.9, 0.5]" in config.read_text()


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"zones": [{**zone([0.1, 0.5]), "colour": "red"}], "lines": []}, "zone 'yard': colour: unknown key"),
        (
            {"zones": [], "lines": [{**line([0.5, 0.0], [1, 0]), "in_directions": [1, 0]}]},
            "line 'door': in_directions: unknown key; did you mean 'in_direction'?",
        ),
    ],
)
def test_an_unknown_key_is_a_400_naming_it_and_the_key_likely_meant(
    tmp_path: Path, document: dict[str, object], problem: str
) -> None:
    with refused_put(tmp_path, document, problem):
        pass
