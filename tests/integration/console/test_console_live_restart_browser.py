"""A live view whose stream ends while it is watched, in the real browser against the real app: the
gateway restarts on the same port, and the cameras page and the camera page show the new gateway's
pictures without a reload. An <img> pointed at the stream fires nothing when the stream ends: the
picture froze on its last frame for good while the numbers beside it said "streaming". The camera
directory is the hand-written fake of the console tests, its JPEGs made by OpenCV; the first
gateway's frames are 160 pixels wide and the second's 320, so the picture shows which one it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, expect
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app, serve
from gateway.config import AdmissionConfig, HttpConfig
from gateway.domain import CameraState
from tests.integration.console.test_console_hostile_browser import UI_WAIT_MS
from tests.support.console_app import OneCamera
from tests.unit.api.fakes import FakeBackend, FakeEvents
from tests.unit.api.harness import LoopThread

CAMERA = "gate"


def jpeg(width: int, height: int) -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


@contextmanager
def gateway(port: int, width: int) -> Iterator[int]:
    """The console app on ``port`` (0: a free one), its camera's frames ``width`` pixels wide."""
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=OneCamera(CAMERA, CameraState.STREAMING, jpeg(width, width * 9 // 16)),
        events=FakeEvents(),
        registry=CollectorRegistry(),
    )
    with closing(backend), closing(LoopThread()) as loop:
        server = loop.run(serve(app, "127.0.0.1", port))
        try:
            yield server.port
        finally:
            loop.run(server.close())


@pytest.mark.parametrize(
    ("hash_", "selector"), [("#/cameras", "article.tile img"), (f"#/camera/{CAMERA}", ".stage img")]
)
def test_the_live_view_comes_back_after_the_gateway_restarts(
    browser: Browser, hash_: str, selector: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    with gateway(0, 160) as port:
        page.goto(f"http://127.0.0.1:{port}/{hash_}")
        expect(page.locator(selector)).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
    # The first gateway has stopped, and its stream with it; the second answers on the same port.
    with gateway(port, 320):
        expect(page.locator(selector)).to_have_js_property("naturalWidth", 320, timeout=UI_WAIT_MS)
