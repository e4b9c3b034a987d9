"""The motion mask through ``/v1/cameras/{id}/geometry``: ``GET`` answers it (and whether the camera
gates on motion), a ``PUT`` with ``mask`` saves it into the camera's ``motion`` settings and applies
it, one without leaves the file's as written, and a mask the config would refuse is a 400 naming
the outline, with nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.unit.api.harness import Reply, ServedApi

MOTION = """\
    motion:
      min_area: 0.01
"""
MASK = """\
      mask:
        - [[0.8, 0.0], [1.0, 0.0], [1.0, 0.1]]  # the clock
"""
CONFIG = f"""\
cameras:
  - id: gate
    url: rtsp://10.0.0.5/stream1
{MOTION}{MASK}"""
PATH = "/v1/cameras/gate/geometry"
TREE = [[0.6, 0.0], [1.0, 0.0], [1.0, 0.4], [0.6, 0.4]]
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def put(api: ServedApi, document: dict[str, object]) -> Reply:
    return api.request("PUT", PATH, json.dumps(document).encode(), {"Content-Type": "application/json"})


@contextmanager
def served(tmp_path: Path, text: str = CONFIG) -> Iterator[tuple[ServedApi, Path]]:
    config = tmp_path / "gateway.yaml"
    config.write_text(text)
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as api:
        yield api, config


def test_get_answers_the_mask_and_whether_the_camera_gates_on_motion(tmp_path: Path) -> None:
    with served(tmp_path) as (api, _):
        geometry = api.get(PATH).json()
    assert geometry["mask"] == [[[0.8, 0.0], [1.0, 0.0], [1.0, 0.1]]]
    assert geometry["motion_gating"] is True
    with served(tmp_path, CONFIG.replace("min_area: 0.01", "enabled: false")) as (api, _):
        assert api.get(PATH).json()["motion_gating"] is False


def test_a_saved_mask_is_written_into_the_motion_settings_and_applied(tmp_path: Path) -> None:
    with served(tmp_path) as (api, config):
        loaded = api.get(PATH).json()["version"]
        reply = put(api, {"zones": [], "lines": [], "mask": [TREE], "version": loaded})
        assert reply.status == 200, reply.body
        assert reply.json()["mask"] == [TREE]
        # The version tells the mask apart: a save made on the one loaded before is refused.
        assert reply.json()["version"] != loaded
        assert put(api, {"zones": [], "lines": [], "mask": [], "version": loaded}).status == 409
        assert api.get(PATH).json()["mask"] == [TREE]
    assert MOTION in config.read_text()
    motion = load_config(config).cameras[0].motion
    assert [[list(point) for point in outline] for outline in motion.mask] == [TREE]
    assert motion.min_area == 0.01


def test_a_save_without_a_mask_leaves_the_files_as_written(tmp_path: Path) -> None:
    with served(tmp_path) as (api, config):
        reply = put(api, {"zones": [], "lines": []})
        assert reply.status == 200, reply.body
        assert reply.json()["mask"] == [[[0.8, 0.0], [1.0, 0.0], [1.0, 0.1]]]
    assert config.read_text() == CONFIG


@pytest.mark.parametrize(
    ("mask", "problem"),
    [
        (TREE, "mask: takes a list of outlines, and this is one outline's points"),
        ([TREE, WHOLE], "mask: covers the whole frame, so no change could ever be motion"),
        ([TREE, [[0.1, 0.1], [0.2, 0.1]]], "mask[1]: needs at least 3 entries, got 2"),
        ([[[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]], "mask[0]: mask outline"),
        ([[[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]]], "mask[0][1][0]: must be at most 1, got 1.5"),
        ([TREE] * 65, "mask: 65 given, a camera has at most 64"),
        ("top right", "mask must be a list"),
    ],
)
def test_a_mask_the_config_would_refuse_is_a_400_naming_it_and_nothing_is_written(
    tmp_path: Path, mask: object, problem: str
) -> None:
    with served(tmp_path) as (api, config):
        reply = put(api, {"zones": [], "lines": [], "mask": mask})
        assert reply.status == 400, reply.body
        assert problem in reply.json()["error"]
        assert api.get(PATH).json()["mask"] == [[[0.8, 0.0], [1.0, 0.0], [1.0, 0.1]]]
    assert config.read_text() == CONFIG
