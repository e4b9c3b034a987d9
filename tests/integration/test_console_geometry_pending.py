"""The console's geometry editor against a real ``Gateway`` (the demo clip, the face detector on ONNX
Runtime), wired to its config file as ``serve`` wires it: after a reload that changes the camera's
sampling, which waits for a restart, the editor is read-only and a save is a 409, both naming the
change exactly as ``/v1/status`` does, and the file and the camera's zones stay as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.commands.serve import gateway_app
from gateway.config import load_config
from gateway.pipeline import Gateway
from gateway.pipeline.config_file import ConfigFile
from tests.support.serve import CLIP, face_repository
from tests.unit.api.harness import ServedApi

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
GEOMETRY = {"zones": [{"name": "yard", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}], "lines": []}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG.format(state=tmp_path / "state", repository=face_repository(tmp_path), clip=CLIP))
    return path


@pytest.fixture
def gateway(config_path: Path) -> Iterator[Gateway]:
    gateway = Gateway.from_config(load_config(config_path))
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def test_a_sampling_change_waiting_for_a_restart_blocks_geometry_saves_until_reverted(
    config_path: Path, gateway: Gateway
) -> None:
    config_file = ConfigFile(config_path, running=lambda: gateway.config, apply=gateway.reload)
    api = ServedApi(gateway_app(gateway, config_file))
    try:
        original = config_path.read_text()
        # Given a SIGHUP reload of a file that doubles the camera's detect_fps,
        config_path.write_text(original.replace("detect_fps: 5", "detect_fps: 10"))
        config_file.reload()
        (pending,) = api.get("/v1/status").json()["problems"]
        assert pending.startswith("camera door: restart to apply detect_fps 5.0 -> 10.0;"), pending
        # then the editor is read-only with the status's line,
        geometry = api.get("/v1/cameras/door/geometry").json()
        assert (geometry["editable"], geometry["read_only_reason"]) == (False, pending)
        # and a save is refused with it: the file and the zones in force stay.
        edited = config_path.read_text()
        reply = api.request(
            "PUT",
            "/v1/cameras/door/geometry",
            json.dumps(GEOMETRY).encode(),
            {"Content-Type": "application/json"},
        )
        assert reply.status == 409, reply.body
        assert reply.json() == {"error": pending}
        assert config_path.read_text() == edited
        assert gateway.config.cameras[0].zones[0].polygon[1] == (0.5, 0.0)

        # When a reload reverts the change, the save goes through and the camera runs the new zone.
        config_path.write_text(original)
        config_file.reload()
        assert api.get("/v1/status").json()["problems"] == []
        reply = api.request(
            "PUT",
            "/v1/cameras/door/geometry",
            json.dumps(GEOMETRY).encode(),
            {"Content-Type": "application/json"},
        )
        assert reply.status == 200, reply.body
        assert gateway.config.cameras[0].zones[0].polygon[1] == (0.9, 0.1)
    finally:
        api.close()
