"""A camera whose resolution changes while its page is open, in the real browser against the real app:
the picture's frame takes the new shape. A live view's later frames fire no ``load`` event, and the
frame kept the first frame's shape, so a camera turned to portrait was shown squashed into landscape
until the page was reloaded. The camera directory is the hand-written fake of the API tests, its
JPEGs made by OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Browser, expect

from gateway.domain import CameraState
from tests.integration.console.test_console_hostile_browser import UI_WAIT_MS
from tests.support.console_app import OneCamera, console_app

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"


def jpeg(width: int, height: int) -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


def test_the_picture_takes_the_cameras_new_shape(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(CONFIG)
    camera = OneCamera(CAMERA, CameraState.STREAMING, jpeg(160, 90))
    with console_app(camera, config_path) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        stage = page.locator(".stage")
        expect(stage).to_have_css("aspect-ratio", "160 / 90", timeout=UI_WAIT_MS)
        # When the camera turns to portrait, its live view goes on with frames of the new shape,
        camera.jpeg = jpeg(90, 160)
        page.wait_for_function(
            "() => document.querySelector('.stage img').naturalHeight === 160", timeout=UI_WAIT_MS
        )
        # and the frame around the picture follows.
        expect(stage).to_have_css("aspect-ratio", "90 / 160", timeout=UI_WAIT_MS)
