"""The console's geometry editor against a real ``Gateway`` wired to its config file as ``serve``
wires it: after a reload that changes the camera's sampling, which waits for a restart, the editor
is read-only and a save is a 409, both naming the change exactly as ``/v1/status`` does, and the file
and the camera's zones stay as they were."""

from __future__ import annotations

from tests.integration.api.running_gateway import CAMERA, ZONE, RunningGateway


def test_a_sampling_change_waiting_for_a_restart_blocks_geometry_saves_until_reverted(
    running: RunningGateway,
) -> None:
    api, gateway = running.api, running.gateway
    original = running.config_path.read_text()
    # Given a SIGHUP reload of a file that doubles the camera's detect_fps,
    running.edit_file("detect_fps: 5", "detect_fps: 10")
    running.config_file.reload()
    (pending,) = api.get("/v1/status").json()["problems"]
    assert pending.startswith(f"camera {CAMERA}: restart to apply detect_fps 5.0 -> 10.0;"), pending
    # then the editor is read-only with the status's line,
    geometry = api.get(f"/v1/cameras/{CAMERA}/geometry").json()
    assert (geometry["editable"], geometry["read_only_reason"]) == (False, pending)
    # and a save is refused with it: the file and the zones in force stay.
    edited = running.config_path.read_text()
    reply = running.save_geometry([ZONE])
    assert reply.status == 409, reply.body
    assert reply.json() == {"error": pending}
    assert running.config_path.read_text() == edited
    assert gateway.config.cameras[0].zones[0].polygon[1] == (0.5, 0.0)

    # When a reload reverts the change, the save goes through and the camera runs the new zone.
    running.config_path.write_text(original)
    running.config_file.reload()
    assert api.get("/v1/status").json()["problems"] == []
    reply = running.save_geometry([ZONE])
    assert reply.status == 200, reply.body
    assert gateway.config.cameras[0].zones[0].polygon[1] == (0.9, 0.1)
