"""What a console geometry save answers, against a real ``Gateway`` (the demo clip, the face detector
on ONNX Runtime) wired to its config file as ``serve`` wires it: a save whose file also asks for a
change that waits for a restart lists it in ``pending_restart`` (before, the answer read as all in
force), and two zones of the same name are refused naming the name (before, the 400 quoted the file
and the camera's line only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.commands.serve import gateway_app
from gateway.config import load_config
from gateway.pipeline import Gateway
from gateway.pipeline.config_file import ConfigFile
from tests.support.serve import CLIP, face_repository
from tests.unit.api.harness import Reply, ServedApi

CONFIG = """\
device_id: inproc
state_dir: {state}
http: {{port: 0}}
models: {{repository: {repository}}}
cameras:
  - id: door
    url: {clip}
    detect_fps: 5
    model: face-detector
    motion: {{enabled: false}}
    zones:
      - {{name: yard, polygon: [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]}}
"""
ZONE = {"name": "yard", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG.format(state=tmp_path / "state", repository=face_repository(tmp_path), clip=CLIP))
    return path


@pytest.fixture
def api(config_path: Path) -> Iterator[ServedApi]:
    gateway = Gateway.from_config(load_config(config_path))
    gateway.start()
    config_file = ConfigFile(config_path, running=lambda: gateway.config, apply=gateway.reload)
    try:
        api = ServedApi(gateway_app(gateway, config_file))
        try:
            yield api
        finally:
            api.close()
    finally:
        gateway.stop()


def save(api: ServedApi, zones: list[dict[str, Any]]) -> Reply:
    return api.request(
        "PUT",
        "/v1/cameras/door/geometry",
        json.dumps({"zones": zones, "lines": []}).encode(),
        {"Content-Type": "application/json"},
    )


def test_a_save_lists_the_files_changes_that_wait_for_a_restart(api: ServedApi, config_path: Path) -> None:
    # Given the file edited by hand to move the API to another port, not yet reloaded
    config_path.write_text(config_path.read_text().replace("port: 0", "port: 18080"))

    # When the console saves the camera's zones, which reloads the file
    reply = save(api, [ZONE])

    # Then the zones apply, and the answer names the port change as the status does
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["zones"] == [ZONE]
    (pending,) = answer["pending_restart"]
    assert pending.startswith("restart to apply http.port 0 -> 18080;"), pending
    assert api.get("/v1/status").json()["problems"] == [pending]


def test_a_save_with_nothing_pending_says_so(api: ServedApi) -> None:
    reply = save(api, [ZONE])
    assert reply.status == 200, reply.body
    assert reply.json()["pending_restart"] == []


def test_two_zones_of_one_name_are_refused_naming_it(api: ServedApi, config_path: Path) -> None:
    before = config_path.read_text()

    reply = save(api, [ZONE, {**ZONE, "polygon": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]}])

    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert "zone names must be unique within a camera: 'yard' is also the name of zones[0]" in error
    assert str(config_path) in error
    assert config_path.read_text() == before
