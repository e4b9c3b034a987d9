"""Console states a live demo does not show, in the real browser against the real app: a failed
camera framed in red with its error, and the editor read-only (with the reason) when the gateway
runs the embedded default config. The camera directory is the hand-written fake of the API tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig, parse_config
from gateway.domain import CameraState
from gateway.pipeline.config_file import ConfigFile
from tests.unit.api.fakes import FakeBackend, FakeCameras
from tests.unit.api.harness import ServedApi

UI_WAIT_MS = 15_000
CONFIG = parse_config(
    "cameras:\n"
    "  - id: gate\n"
    "    url: rtsp://10.0.0.5/stream1\n"
    "    zones: [{name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}]\n"
)


@pytest.fixture
def served() -> Iterator[ServedApi]:
    cameras = FakeCameras()
    cameras.status = dataclasses.replace(
        cameras.status, state=CameraState.FAILED, last_error="401 Unauthorized from the camera"
    )
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=cameras,
        events=None,
        registry=CollectorRegistry(),
        geometry=ConfigFile(None, running=lambda: CONFIG, apply=lambda _: None),
    )
    api = ServedApi(app)
    try:
        yield api
    finally:
        api.close()
        backend.close()


def test_a_failed_camera_is_framed_in_red_with_its_error(served: ServedApi, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
    tile = page.locator("article[data-camera=gate]")
    expect(tile).to_have_class("card tile failed", timeout=UI_WAIT_MS)
    expect(tile.get_by_text("failed", exact=True)).to_be_visible()
    expect(tile.get_by_text("401 Unauthorized from the camera")).to_be_visible()
    border = tile.evaluate("tile => getComputedStyle(tile).borderTopColor")
    assert border == "rgb(176, 0, 32)", border


def test_the_embedded_default_shows_the_editor_read_only_with_the_reason(
    served: ServedApi, browser: Browser
) -> None:
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{served.port}/#/camera/gate")
    expect(page.get_by_text("Read-only: the gateway runs the embedded default config")).to_be_visible(
        timeout=UI_WAIT_MS
    )
    expect(page.get_by_role("button", name="Zone yard")).to_be_visible()
    expect(page.get_by_role("button", name="Draw zone")).to_be_disabled()
    expect(page.get_by_role("button", name="Draw line")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_be_disabled()
    page.get_by_role("button", name="Zone yard").click()
    expect(page.get_by_role("button", name="Delete")).to_be_disabled()
