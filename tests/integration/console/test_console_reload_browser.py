"""A config reload (SIGHUP) under an open camera page, in the real browser against the real app and
the real config file (``ConfigFile.reload``, as SIGHUP calls it), over a hand-written camera:

- an editor with no edits of its own takes the zones and lines the reload put in force: it kept
  showing the ones it had loaded, over a live view that drew the new ones;
- an editor with edits says that a save will be refused, and why, before one is tried;
- a camera the reload renamed says so, turns the editor read-only, and its live view, which stayed
  open with nothing to send, ends and says why there is no picture."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Browser, Page, expect
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig, parse_config
from gateway.domain import CameraState
from gateway.pipeline.config_file import ConfigFile
from tests.support.console_app import OneCamera, Running
from tests.unit.api.fakes import FakeBackend, FakeEvents
from tests.unit.api.harness import ServedApi

CAMERA = "gate"
UI_WAIT_MS = 15_000


def config_text(camera_id: str, zone: str) -> str:
    return (
        f"cameras:\n  - id: {camera_id}\n    url: rtsp://10.0.0.5/stream1\n    zones:\n"
        f"      - {{name: {zone}, polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}}\n"
    )


def jpeg() -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


@dataclass
class Served:
    page: Page
    path: Path
    file: ConfigFile
    camera: OneCamera

    def reload(self, camera_id: str, zone: str) -> None:
        """The file rewritten, then SIGHUP's reload; the camera directory follows the new id."""
        self.path.write_text(config_text(camera_id, zone))
        self.file.reload()
        self.camera.status = dataclasses.replace(self.camera.status, camera_id=camera_id)


@contextmanager
def camera_page(tmp_path: Path, browser: Browser) -> Iterator[Served]:
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text(CAMERA, "yard"))
    running = Running(parse_config(path.read_text()))
    file = ConfigFile(path, running=lambda: running.config, apply=running.apply)
    camera = OneCamera(CAMERA, CameraState.STREAMING, jpeg())
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=camera,
        events=FakeEvents([]),
        registry=CollectorRegistry(),
        geometry=file,
    )
    with closing(backend), closing(ServedApi(app)) as api:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{api.port}/#/camera/{CAMERA}")
        expect(page.get_by_role("button", name="Zone yard")).to_be_visible(timeout=UI_WAIT_MS)
        yield Served(page, path, file, camera)


def test_an_editor_without_edits_takes_the_zones_a_reload_put_in_force(
    tmp_path: Path, browser: Browser
) -> None:
    with camera_page(tmp_path, browser) as served:
        served.reload(CAMERA, "garden")
        expect(served.page.get_by_role("button", name="Zone garden")).to_be_visible(timeout=UI_WAIT_MS)
        expect(served.page.get_by_role("button", name="Zone yard")).to_have_count(0)
        expect(served.page.get_by_role("status").last).to_contain_text("the config file was reloaded")


def test_an_editor_with_edits_says_a_save_will_be_refused_after_a_reload(
    tmp_path: Path, browser: Browser
) -> None:
    with camera_page(tmp_path, browser) as served:
        page = served.page
        page.get_by_role("button", name="Zone yard").click()
        page.get_by_label("Name of the selected shape").fill("lawn")
        page.get_by_label("Name of the selected shape").press("Tab")
        expect(page.get_by_role("button", name="Save")).to_be_enabled()
        served.reload(CAMERA, "garden")
        expect(page.locator(".banner")).to_have_text(
            "The zones, lines or motion mask were changed elsewhere (a config reload, or another tab) "
            "since this editor loaded them: Save will be refused; Revert loads them.",
            timeout=UI_WAIT_MS,
        )
        # The edits stay on screen, for the user to redo after Revert.
        expect(page.get_by_role("button", name="Zone lawn")).to_be_visible()


def test_a_camera_a_reload_renamed_says_so_and_its_editor_turns_read_only(
    tmp_path: Path, browser: Browser
) -> None:
    with camera_page(tmp_path, browser) as served:
        page = served.page
        expect(page.locator(".stage img")).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        served.reload("gate-renamed", "yard")
        expect(page.locator(".banner")).to_contain_text(
            f"Camera {CAMERA} is not in the gateway's config any more (renamed or removed by a reload)",
            timeout=UI_WAIT_MS,
        )
        expect(page.get_by_role("link", name="All cameras", exact=True)).to_have_attribute(
            "href", "#/cameras"
        )
        expect(page.get_by_role("button", name="Draw zone")).to_be_disabled()
        expect(page.locator(".stage .live-note")).to_have_text(
            f"No live view: unknown camera '{CAMERA}' (cameras: gate-renamed)", timeout=UI_WAIT_MS
        )
