"""``PUT /v1/cameras/{id}/geometry`` with the ``version`` its ``GET`` answered: a save over geometry
that changed since (another tab saved) is refused with 409 and writes nothing; without a version a
save goes through as before."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.unit.api.harness import Reply, ServedApi

CONFIG = """\
cameras:
  - id: gate
    url: rtsp://10.0.0.5/stream1
    zones: [{name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}]
"""
PATH = "/v1/cameras/gate/geometry"
YARD = {"name": "yard", "polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}


def line(name: str, x: float) -> dict[str, object]:
    return {"name": name, "points": [[x, 0.1], [x, 0.9]], "in_direction": [1.0, 0.0]}


def put(api: ServedApi, document: dict[str, object]) -> Reply:
    body = json.dumps(document).encode()
    return api.request("PUT", PATH, body, {"Content-Type": "application/json"})


def test_a_save_made_on_an_older_version_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as api:
        loaded = api.get(PATH).json()["version"]
        first = put(api, {"zones": [YARD], "lines": [line("door", 0.8)], "version": loaded})
        assert first.status == 200, first.body
        assert first.json()["version"] != loaded
        saved = config.read_text()

        stale = put(api, {"zones": [YARD], "lines": [line("aisle", 0.2)], "version": loaded})

        assert stale.status == 409
        assert "changed after this editor loaded them" in stale.json()["error"]
        assert config.read_text() == saved
        assert put(api, {"zones": [YARD], "lines": [], "version": 7}).status == 400
        # Without a version, as before: the last save wins.
        assert put(api, {"zones": [YARD], "lines": []}).status == 200


def test_a_save_over_a_hand_edit_whose_reload_is_still_to_come_is_refused(tmp_path: Path) -> None:
    # Given an editor loaded at the running geometry, and the yard then edited by hand in the file,
    # its SIGHUP still to come (or its reload still reading the file)
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as api:
        loaded = api.get(PATH).json()["version"]
        edited = CONFIG.replace("[0.1, 0.5], [0.9, 0.5]", "[0.2, 0.5], [0.8, 0.5]")
        config.write_text(edited)

        # When the editor saves on the version it loaded
        reply = put(api, {"zones": [YARD], "lines": [line("door", 0.8)], "version": loaded})

        # Then the save is refused and the hand edit stays, for the reload to apply
        assert reply.status == 409, reply.body
        assert (
            "has a change to the zones, lines or motion mask of camera 'gate' that is not applied"
            in (reply.json()["error"])
        )
        assert config.read_text() == edited


def test_a_save_that_mends_a_file_a_reload_refused_goes_through(tmp_path: Path) -> None:
    # Given a rule added by hand that names a zone the camera does not have yet (its reload refused)
    detecting = CONFIG.replace("    zones:", "    model: face-detector\n    zones:")
    config = tmp_path / "gateway.yaml"
    config.write_text(detecting)
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as api:
        loaded = api.get(PATH).json()["version"]
        config.write_text(detecting + "    rules: [{name: at-door, zones: [door]}]\n")

        # When the editor draws that zone and saves on the version it loaded
        door = {"name": "door", "polygon": [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.1, 0.3]]}
        reply = put(api, {"zones": [YARD, door], "lines": [], "version": loaded})

        # Then the save goes through, the hand's rule with it
        assert reply.status == 200, reply.body
        assert "at-door" in config.read_text()


def test_of_two_saves_made_at_once_on_one_version_one_wins(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as api:
        loaded = api.get(PATH).json()["version"]
        documents = [{"zones": [YARD], "lines": [line(f"l{n}", 0.1 * n)], "version": loaded} for n in (2, 8)]
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(reply.status for reply in pool.map(lambda d: put(api, d), documents))
        assert statuses == [200, 409]
