"""A camera that goes down while its live view is watched, in the real browser against the real app:
its last picture, which the gateway goes on serving, says it is the last one and that the camera is
reconnecting, and the note goes when the camera streams again. The picture looked live, frozen,
with the camera's state only in the numbers below it. While the camera page's refreshes fail, the
note says the camera's state now is unknown (it went on saying "the camera is reconnecting"). The
camera directory is the hand-written fake of the console tests, its JPEGs made by OpenCV; the 503 is
the browser's own route."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera
from tests.support.console_pages import UI_WAIT_MS, camera_config, console_page, gray_jpeg, live_picture

CAMERA = "gate"
CONFIG = camera_config(CAMERA, {})


@pytest.mark.parametrize(
    ("hash_", "frame"), [("#/cameras", "article.tile"), (f"#/camera/{CAMERA}", ".stage")]
)
def test_the_last_picture_of_a_camera_gone_down_says_so(
    tmp_path: Path, browser: Browser, hash_: str, frame: str
) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    camera = OneCamera(CAMERA, CameraState.STREAMING, gray_jpeg(160, 90))
    with console_page(browser, camera, tmp_path / "gateway.yaml", hash_) as page:
        picture, note = live_picture(page, frame, 160)
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


def test_the_camera_page_says_no_state_over_its_last_picture_while_refreshes_fail(
    tmp_path: Path, browser: Browser
) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    camera = OneCamera(CAMERA, CameraState.STREAMING, gray_jpeg(160, 90))
    with console_page(browser, camera, tmp_path / "gateway.yaml", f"#/camera/{CAMERA}") as page:
        _, note = live_picture(page, ".stage", 160)
        camera.status = dataclasses.replace(camera.status, state=CameraState.RECONNECTING)
        expect(note).to_contain_text("the camera is reconnecting", timeout=UI_WAIT_MS)

        # Given the camera's refreshes answered 503
        def unavailable(route: Route) -> None:
            route.fulfill(status=503, json={"error": "the gateway is stopping"})

        page.route(f"**/v1/cameras/{CAMERA}", unavailable)
        # Then the note over its last picture says its state now is unknown
        expect(note).to_have_text(
            re.compile(r"^Last picture .+; the camera's state now is unknown$"), timeout=UI_WAIT_MS
        )
        # and says the state again once a refresh succeeds.
        page.unroute(f"**/v1/cameras/{CAMERA}")
        expect(note).to_have_text(
            re.compile(r"^Last picture .+: the camera is reconnecting$"), timeout=UI_WAIT_MS
        )
