"""The geometry editor on a config file that hangs (a hung network mount): looking at the file
(``stat``, ``access``) happens off the event loop, so other requests are answered meanwhile, and is
given up after the time limit: ``GET`` then shows the geometry read-only, naming the file, and a
``PUT`` is a 503 naming it. A save whose read of the file hangs is a 503 too, and lets go of the
reload lock, so the next reload is refused at once instead of waiting behind it. A save whose file
stops answering once it is applied is answered as saved, read-only naming the file.

The file's look and read block on a real FIFO nobody writes to, as ``test_config_file_reload_bounded``
does; ``tests/integration/test_geometry_save_hung.py`` shows the save on the real ``serve``. Before,
the look ran on the event loop with no time limit, and the save read the file with none."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, parse_config, read_config_text
from gateway.config_edit import read_only_reason
from gateway.pipeline import config_file as config_file_module
from gateway.pipeline.config_file import ConfigFile
from tests.support.fifo import release
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.harness import Reply, ServedApi

CONFIG = """\
device_id: site
cameras:
  - id: gate
    url: /srv/gate.mp4
    model: affine
    zones:
      - {name: yard, polygon: [[0, 0], [1, 0], [1, 1]]}
"""
GEOMETRY = {"zones": [{"name": "yard", "polygon": [[0.1, 0.2], [0.9, 0.2], [0.9, 0.9]]}], "lines": []}
WAIT_S = 0.2
READER = "config-file-read"
RUNNING = parse_config(CONFIG)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "hung"
    os.mkfifo(path)
    return path


@pytest.fixture
def hung_check(monkeypatch: pytest.MonkeyPatch, fifo: Path) -> threading.Event:
    """The file's look blocks (opening ``fifo``) until the FIFO is released, then looks; the event
    is set once a look has started."""
    started = threading.Event()

    def check(path: Path | None) -> str | None:
        started.set()
        read_config_text(fifo)
        return read_only_reason(path)

    monkeypatch.setattr(config_file_module, "read_only_reason", check)
    return started


def put_geometry(api: ServedApi) -> Reply:
    return api.request(
        "PUT",
        "/v1/cameras/gate/geometry",
        json.dumps(GEOMETRY).encode(),
        {"Content-Type": "application/json"},
    )


def test_a_hung_look_at_the_file_leaves_other_requests_answered(
    make_api: ApiFactory, config_path: Path, fifo: Path, hung_check: threading.Event
) -> None:
    # Given the editor of a file whose look hangs, waited for longer than this test runs
    config_file = ConfigFile(config_path, lambda: RUNNING, lambda config: None, read_wait_s=600.0)
    api = make_api(geometry=config_file)
    answers: list[Reply] = []
    loading = threading.Thread(target=lambda: answers.append(api.get("/v1/cameras/gate/geometry")))
    try:
        # When the editor loads while the look hangs
        loading.start()
        assert hung_check.wait(30), "the look never started"

        # Then another request is answered meanwhile
        assert api.get("/v2/health/live").status == 200
    finally:
        release(fifo, READER)
        loading.join(30)
    # And once the look ends, the editor loads as before
    (answer,) = answers
    assert (answer.status, answer.json()["editable"]) == (200, True), answer.body


def test_a_look_at_the_file_that_hangs_is_given_up_naming_the_file(
    make_api: ApiFactory,
    config_path: Path,
    fifo: Path,
    hung_check: threading.Event,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the editor of a file whose look hangs
    config_file = ConfigFile(config_path, lambda: RUNNING, lambda config: None, read_wait_s=WAIT_S)
    api = make_api(geometry=config_file)
    caplog.set_level(logging.ERROR, logger="gateway.pipeline.config_file")
    try:
        # When the editor loads, saves, and a reload comes, while the look still hangs
        loaded = api.get("/v1/cameras/gate/geometry")
        saved = put_geometry(api)
        config_file.reload()
    finally:
        release(fifo, READER)

    # Then the editor shows the geometry read-only, naming the file and the time limit
    assert loaded.status == 200, loaded.body
    shown = loaded.json()
    assert shown["zones"] == [zone.model_dump(mode="json") for zone in RUNNING.cameras[0].zones]
    assert not shown["editable"]
    assert shown["read_only_reason"] == (
        f"{config_path}: cannot check: checking it did not finish within {WAIT_S:g} s (a hung network mount?)"
    )
    # And the save is unavailable, naming the file and the look still hanging, with nothing written
    assert saved.status == 503, saved.body
    assert f"{config_path}: cannot check: the check a console request started" in saved.json()["error"]
    assert config_path.read_text(encoding="utf-8") == CONFIG
    # And the reload is refused at once, naming it too
    (refused,) = (record.getMessage() for record in caplog.records)
    assert f"{config_path}: cannot read: the check a console request started" in refused


def test_a_save_whose_read_hangs_is_503_and_the_next_reload_is_refused_at_once(
    make_api: ApiFactory, config_path: Path, fifo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the editor of a file whose reads hang
    applied: list[object] = []
    config_file = ConfigFile(
        config_path,
        lambda: RUNNING,
        applied.append,
        read=lambda path: read_config_text(fifo),
        read_wait_s=WAIT_S,
    )
    api = make_api(geometry=config_file)
    caplog.set_level(logging.ERROR, logger="gateway.pipeline.config_file")
    try:
        # When the editor saves, then a reload comes while the save's read still hangs
        saved = put_geometry(api)
        config_file.reload()
    finally:
        release(fifo, READER)

    # Then the save is unavailable, naming the file and the time limit, and nothing is written
    assert saved.status == 503, saved.body
    assert (
        f"{config_path}: cannot read: reading it did not finish within {WAIT_S:g} s (a hung network mount?)"
        in saved.json()["error"]
    )
    assert config_path.read_text(encoding="utf-8") == CONFIG
    # And the reload did not wait behind it: refused, naming the save's read
    (refused,) = (record.getMessage() for record in caplog.records)
    assert f"{config_path}: cannot read: the read a console save started" in refused
    assert applied == []


def test_a_save_whose_file_stops_answering_once_saved_answers_the_saved_geometry_read_only(
    make_api: ApiFactory, config_path: Path, fifo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the editor of a file whose looks hang from the moment the save is applied
    applied: list[GatewayConfig] = []
    saved = threading.Event()

    def apply(config: GatewayConfig) -> None:
        applied.append(config)
        saved.set()

    def check(path: Path | None) -> str | None:
        if saved.is_set():
            read_config_text(fifo)
        return read_only_reason(path)

    monkeypatch.setattr(config_file_module, "read_only_reason", check)
    config_file = ConfigFile(
        config_path, lambda: applied[-1] if applied else RUNNING, apply, read_wait_s=WAIT_S
    )
    api = make_api(geometry=config_file)
    try:
        # When the editor saves
        reply = put_geometry(api)
    finally:
        release(fifo, READER)

    # Then the save is answered as saved, with the geometry now in force, read-only naming the file
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert (answer["zones"], answer["lines"], answer["editable"]) == (GEOMETRY["zones"], [], False)
    assert answer["read_only_reason"] == (
        f"{config_path}: cannot check: checking it did not finish within {WAIT_S:g} s (a hung network mount?)"
    )
    assert (
        parse_config(config_path.read_text(encoding="utf-8")).cameras[0].zones == applied[-1].cameras[0].zones
    )
