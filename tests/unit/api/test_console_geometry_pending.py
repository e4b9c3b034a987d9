"""The geometry editor of a camera whose source, sampling or models changed in the file: the camera
keeps its whole previous config until a restart (``gateway.pipeline.camera_changes``), so the editor
is read-only with the pending change as its reason, and a save is a 409 that writes nothing, also
when the change arrives between the editor's load and its save. The real app over real HTTP, the
real ``ConfigFile`` on a real file, and the config in force kept as ``Gateway.reload`` keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.config import CameraConfig, GatewayConfig, parse_config
from gateway.pipeline.camera_changes import plan_reload
from gateway.pipeline.config_file import ConfigFile
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.harness import Reply, ServedApi

CONFIG = """\
# site config
device_id: site
cameras:
  - id: gate   # the gate camera
    url: /srv/gate.mp4
    model: affine
    zones:
      - {name: yard, polygon: [[0, 0], [1, 0], [1, 1]]}
    rules:
      - {name: intrusion, zones: [yard]}
  - id: dock
    url: /srv/dock.mp4
    model: affine
"""
MOVED = CONFIG.replace("/srv/gate.mp4", "/srv/gate-2.mp4")
PENDING = "camera gate: restart to apply url /srv/gate.mp4 -> /srv/gate-2.mp4;"
GEOMETRY = {
    "zones": [{"name": "yard", "polygon": [[0.1, 0.2], [0.9, 0.2], [0.9, 0.9], [0.1, 0.9]]}],
    "lines": [],
}


class KeptBack:
    """The config in force as ``Gateway`` keeps it: a camera whose restart-only settings changed
    keeps its previous config (``plan_reload``); ``pending`` is what ``/v1/status`` lists."""

    def __init__(self, config: GatewayConfig) -> None:
        self.built = {camera.id: camera for camera in config.cameras}
        self.config = config
        self.pending: tuple[str, ...] = ()
        self.applied: list[GatewayConfig] = []

    def apply(self, config: GatewayConfig) -> None:
        plan = plan_reload(self.built, self.config.cameras, config.cameras)
        self.config = config.model_copy(update={"cameras": list(plan.cameras)})
        self.pending = plan.pending
        self.applied.append(config)

    def camera(self, camera_id: str) -> CameraConfig:
        return next(camera for camera in self.config.cameras if camera.id == camera_id)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def running(config_path: Path) -> KeptBack:
    return KeptBack(parse_config(config_path.read_text()))


@pytest.fixture
def config_file(config_path: Path, running: KeptBack) -> ConfigFile:
    return ConfigFile(config_path, running=lambda: running.config, apply=running.apply)


@pytest.fixture
def api(make_api: ApiFactory, config_file: ConfigFile) -> ServedApi:
    return make_api(geometry=config_file)


def put_geometry(api: ServedApi, camera_id: str = "gate") -> Reply:
    return api.request(
        "PUT",
        f"/v1/cameras/{camera_id}/geometry",
        json.dumps(GEOMETRY).encode(),
        {"Content-Type": "application/json"},
    )


def saved_yard(running: KeptBack) -> tuple[float, float]:
    return running.camera("gate").zones[0].polygon[0]


def test_a_pending_restart_change_makes_the_editor_read_only_and_a_save_a_409_until_reverted(
    api: ServedApi, config_path: Path, config_file: ConfigFile, running: KeptBack
) -> None:
    # Given a reload of a file that moves the gate camera to another source,
    config_path.write_text(MOVED)
    config_file.reload()
    (pending,) = running.pending
    assert pending.startswith(PENDING)
    # then the editor is read-only with the change, worded as the status lists it,
    geometry = api.get("/v1/cameras/gate/geometry").json()
    assert geometry["editable"] is False
    assert geometry["read_only_reason"] == pending
    # and a save is refused with it, writing and applying nothing.
    reply = put_geometry(api)
    assert reply.status == 409, reply.body
    assert reply.json() == {"error": pending}
    assert config_path.read_text() == MOVED
    assert len(running.applied) == 1
    assert saved_yard(running) == (0.0, 0.0)
    # The other camera has nothing pending: its editor stays open.
    assert api.get("/v1/cameras/dock/geometry").json()["editable"] is True

    # When a reload reverts the change, saving works again and applies.
    config_path.write_text(CONFIG)
    config_file.reload()
    assert running.pending == ()
    assert api.get("/v1/cameras/gate/geometry").json()["read_only_reason"] is None
    reply = put_geometry(api)
    assert reply.status == 200, reply.body
    assert reply.json()["editable"] is True
    assert saved_yard(running) == (0.1, 0.2)


def test_a_reload_after_the_editor_loaded_is_caught_at_save_time(
    api: ServedApi, config_path: Path, config_file: ConfigFile, running: KeptBack
) -> None:
    # Given an editor loaded while the camera could be edited,
    assert api.get("/v1/cameras/gate/geometry").json()["editable"] is True
    # when a reload leaves a change pending before the save,
    config_path.write_text(MOVED)
    config_file.reload()
    # then the save is refused all the same.
    reply = put_geometry(api)
    assert reply.status == 409, reply.body
    assert reply.json()["error"].startswith(PENDING)
    assert config_path.read_text() == MOVED
    assert saved_yard(running) == (0.0, 0.0)


def test_a_save_that_would_itself_leave_a_change_pending_is_refused(
    api: ServedApi, config_path: Path, running: KeptBack
) -> None:
    # Given a file edited by hand since the last reload (no SIGHUP yet), so the editor is open,
    config_path.write_text(MOVED)
    assert api.get("/v1/cameras/gate/geometry").json()["editable"] is True
    # when the console saves, which would reload that file and keep the camera's old zones,
    reply = put_geometry(api)
    # then it is refused before writing a byte.
    assert reply.status == 409, reply.body
    assert reply.json()["error"].startswith(PENDING)
    assert config_path.read_text() == MOVED
    assert running.applied == []


def test_a_change_pending_on_another_camera_does_not_block_this_ones_geometry(
    api: ServedApi, config_path: Path, config_file: ConfigFile, running: KeptBack
) -> None:
    config_path.write_text(CONFIG.replace("/srv/dock.mp4", "/srv/dock-2.mp4"))
    config_file.reload()
    assert (
        api.get("/v1/cameras/dock/geometry")
        .json()["read_only_reason"]
        .startswith("camera dock: restart to apply url")
    )
    reply = put_geometry(api)
    assert reply.status == 200, reply.body
    assert saved_yard(running) == (0.1, 0.2)
    # The save reloaded the file: the dock camera's change is still the one pending.
    (pending,) = running.pending
    assert pending.startswith("camera dock:")


def test_a_camera_removed_from_the_file_has_a_read_only_editor(
    api: ServedApi, config_path: Path, config_file: ConfigFile, running: KeptBack
) -> None:
    config_path.write_text(CONFIG.partition("  - id: dock")[0])
    config_file.reload()
    (pending,) = running.pending
    geometry = api.get("/v1/cameras/dock/geometry").json()
    assert geometry["read_only_reason"] == pending
    assert pending.startswith("camera dock removed:")
    assert put_geometry(api, "dock").status == 409
