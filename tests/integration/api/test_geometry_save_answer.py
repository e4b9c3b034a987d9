"""What a console geometry save answers, against a real ``Gateway`` wired to its config file as
``serve`` wires it: a save whose file also asks for a change that waits for a restart lists it in
``pending_restart`` (before, the answer read as all in force; then a camera added to the file was
still left out, the answer picking the lines out of the status text by their wording), and two
zones or lines of the same name are refused naming the name (before, the 400 quoted the file and the
camera's line only)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.api.running_gateway import CAMERA, ZONE, RunningGateway

LINE = {"name": "gate", "points": [[0.5, 0.0], [0.5, 1.0]], "in_direction": [1, 0]}


def test_a_save_lists_the_files_changes_that_wait_for_a_restart(running: RunningGateway) -> None:
    # Given the file edited by hand to move the API to another port, not yet reloaded
    running.edit_file("port: 0", "port: 18080")

    # When the console saves the camera's zones, which reloads the file
    reply = running.save_geometry([ZONE])

    # Then the zones apply, and the answer names the port change as the status does
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["zones"] == [ZONE]
    (pending,) = answer["pending_restart"]
    assert pending.startswith("restart to apply http.port 0 -> 18080;"), pending
    assert running.api.get("/v1/status").json()["problems"] == [pending]


def test_a_save_lists_a_camera_added_to_the_file_which_starts_at_a_restart(
    running: RunningGateway,
) -> None:
    # Given a second camera added to the file by hand
    text = running.config_path.read_text()
    url = next(line for line in text.splitlines() if line.strip().startswith("url:")).strip()
    running.config_path.write_text(text + f"  - id: dock\n    {url}\n    model: face-detector\n")

    # When the console saves the first camera's zones
    reply = running.save_geometry([ZONE])

    # Then the answer says the new camera waits for a restart, as the status does
    assert reply.status == 200, reply.body
    pending = ["camera dock added: it starts when the service restarts"]
    assert reply.json()["pending_restart"] == pending
    assert running.api.get("/v1/status").json()["problems"] == pending


def test_a_save_with_nothing_pending_says_so(running: RunningGateway) -> None:
    reply = running.save_geometry([ZONE])
    assert reply.status == 200, reply.body
    assert reply.json()["pending_restart"] == []


@pytest.mark.parametrize(
    ("zones", "lines", "problem"),
    [
        (
            [ZONE, {**ZONE, "polygon": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]}],
            [],
            "zone names must be unique within a camera: 'yard' is also the name of zones[0]",
        ),
        (
            [ZONE],
            [LINE, {**LINE, "points": [[0.2, 0.0], [0.2, 1.0]]}],
            "line names must be unique within a camera: 'gate' is also the name of lines[0]",
        ),
    ],
    ids=["zones", "lines"],
)
def test_two_zones_or_lines_of_one_name_are_refused_naming_it(
    running: RunningGateway, zones: list[dict[str, Any]], lines: list[dict[str, Any]], problem: str
) -> None:
    before = running.config_path.read_text()

    reply = running.save_geometry(zones, lines)

    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert problem in error
    assert str(running.config_path) in error
    assert running.config_path.read_text() == before
    assert running.api.get(f"/v1/cameras/{CAMERA}/geometry").json()["zones"] != [ZONE]
