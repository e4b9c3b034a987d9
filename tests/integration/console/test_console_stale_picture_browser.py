"""A camera that goes down while its live view is watched, in the real browser against the real app:
its last picture, which the gateway goes on serving, says it is the last one and that the camera is
reconnecting, and the note goes when the camera streams again. The picture looked live, frozen,
with the camera's state only in the numbers below it. The camera directory is the hand-written
fake of the console tests, its JPEGs made by OpenCV."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from gateway.domain import CameraState
from tests.integration.console.test_console_hostile_browser import UI_WAIT_MS
from tests.support.console_app import OneCamera, console_app

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"


def jpeg() -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


@pytest.mark.parametrize(
    ("hash_", "frame"), [("#/cameras", "article.tile"), (f"#/camera/{CAMERA}", ".stage")]
)
def test_the_last_picture_of_a_camera_gone_down_says_so(
    tmp_path: Path, browser: Browser, hash_: str, frame: str
) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    camera = OneCamera(CAMERA, CameraState.STREAMING, jpeg())
    with console_app(camera, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{served.port}/{hash_}")
        picture = page.locator(f"{frame} img")
        note = page.locator(f"{frame} .live-note")
        expect(picture).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(note).to_be_hidden()
        # Given the camera down, its last frame still served,
        camera.status = dataclasses.replace(camera.status, state=CameraState.RECONNECTING)
        # the picture says it is the last one, over the picture itself.
        expect(note).to_be_visible(timeout=UI_WAIT_MS)
        expect(note).to_contain_text("Last picture")
        expect(note).to_contain_text("the camera is reconnecting")
        expect(picture).to_be_visible()
        # When the camera streams again, the note goes.
        camera.status = dataclasses.replace(camera.status, state=CameraState.STREAMING)
        expect(note).to_be_hidden(timeout=UI_WAIT_MS)
