"""The editor of a camera with a change waiting for a restart, in the real browser against the real
app and config file: a save made after such a reload says why it was not saved, and the editor,
loaded again, is read-only with the change as its reason. The camera directory is the hand-written
fake of the API tests; the config in force is kept back as ``Gateway.reload`` keeps it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig, parse_config
from gateway.pipeline.config_file import ConfigFile
from tests.unit.api.fakes import FakeBackend, FakeCameras
from tests.unit.api.harness import ServedApi
from tests.unit.api.test_console_geometry_pending import CONFIG, MOVED, PENDING, KeptBack

UI_WAIT_MS = 15_000


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def config_file(config_path: Path) -> ConfigFile:
    running = KeptBack(parse_config(CONFIG))
    return ConfigFile(config_path, running=lambda: running.config, apply=running.apply)


@pytest.fixture
def served(config_file: ConfigFile) -> Iterator[ServedApi]:
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=FakeCameras(),
        events=None,
        registry=CollectorRegistry(),
        geometry=config_file,
    )
    api = ServedApi(app)
    try:
        yield api
    finally:
        api.close()
        backend.close()


def test_a_save_after_a_reload_left_a_restart_pending_says_why_and_the_editor_turns_read_only(
    served: ServedApi, browser: Browser, config_path: Path, config_file: ConfigFile
) -> None:
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{served.port}/#/camera/gate")
    draw_line = page.get_by_role("button", name="Draw line")
    expect(draw_line).to_be_enabled(timeout=UI_WAIT_MS)
    # Given an editor loaded while the camera could be edited, a line drawn in it (an editor without
    # edits of its own takes what a reload puts in force on its next refresh, read-only included),
    draw_line.click()
    box = page.get_by_role("application", name="Geometry editor").bounding_box()
    assert box is not None
    for x, y in ((0.5, 0.1), (0.5, 0.9)):
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
    # and a reload that then moves the camera, when the line is saved,
    config_path.write_text(MOVED)
    config_file.reload()
    page.get_by_role("button", name="Save").click()
    # then the page says why it was not saved,
    expect(page.get_by_text(re.compile("^Not saved: " + re.escape(PENDING)))).to_be_visible(
        timeout=UI_WAIT_MS
    )
    # and once loaded again the editor is read-only with the change as the reason.
    page.get_by_role("button", name="Revert").click()
    expect(page.get_by_text(re.compile("^Read-only: " + re.escape(PENDING)))).to_be_visible(
        timeout=UI_WAIT_MS
    )
    expect(draw_line).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_be_disabled()
    assert config_path.read_text() == MOVED
