"""A real ``Gateway`` (the demo clip, the face detector on ONNX Runtime) wired to its config file and
served as ``serve`` wires it, for the tests of console geometry saves and of what waits for a
restart."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
CAMERA = "door"
ZONE = {"name": "yard", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}
"""The camera's one zone, moved: what a save sends."""


@dataclass(frozen=True, slots=True)
class RunningGateway:
    gateway: Gateway
    config_file: ConfigFile
    config_path: Path
    api: ServedApi

    def edit_file(self, old: str, new: str) -> None:
        """Edit the config file by hand (nothing reloads it)."""
        text = self.config_path.read_text()
        assert old in text, old
        self.config_path.write_text(text.replace(old, new))

    def save_geometry(self, zones: Sequence[dict[str, Any]], lines: Sequence[dict[str, Any]] = ()) -> Reply:
        """The console's save of the camera's zones and lines."""
        return self.api.request(
            "PUT",
            f"/v1/cameras/{CAMERA}/geometry",
            json.dumps({"zones": list(zones), "lines": list(lines)}).encode(),
            {"Content-Type": "application/json"},
        )


@contextmanager
def running_gateway(directory: Path) -> Iterator[RunningGateway]:
    """The gateway of ``CONFIG`` in ``directory``, started, and its API served; stopped after."""
    config_path = directory / "gateway.yaml"
    config_path.write_text(
        CONFIG.format(state=directory / "state", repository=face_repository(directory), clip=CLIP)
    )
    gateway = Gateway.from_config(load_config(config_path))
    gateway.start()
    try:
        config_file = ConfigFile(config_path, running=lambda: gateway.config, apply=gateway.reload)
        api = ServedApi(gateway_app(gateway, config_file))
        try:
            yield RunningGateway(gateway, config_file, config_path, api)
        finally:
            api.close()
    finally:
        gateway.stop()
