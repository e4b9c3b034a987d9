"""A live view the gateway refuses, in the real browser against the real app: the camera page says
why where the picture would be (the gateway's bound on viewers reached), and shows the picture once
a place is free. The view was asked for again every two seconds in silence, its frame left black."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from gateway.api.console.stream import MAX_VIEWERS_PER_CAMERA, REFUSED_RETRY_AFTER_S
from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.unit.api.harness import ServedApi

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"
UI_WAIT_MS = 15_000


def jpeg() -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    return tmp_path / "gateway.yaml"


@contextmanager
def other_viewers(served: ServedApi, count: int) -> Iterator[list[http.client.HTTPConnection]]:
    opened: list[http.client.HTTPConnection] = []
    try:
        for _ in range(count):
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            opened.append(connection)
            connection.request("GET", f"/v1/cameras/{CAMERA}/stream.mjpeg")
            assert connection.getresponse().status == 200
        yield opened
    finally:
        for connection in opened:
            connection.close()


def test_a_refused_live_view_says_why_and_plays_once_a_place_is_free(
    config_path: Path, browser: Browser
) -> None:
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, jpeg()), config_path) as served:
        page = browser.new_page()
        with other_viewers(served, MAX_VIEWERS_PER_CAMERA):
            # Given a camera watched by as many viewers as it serves at once, its page says why it
            # shows no picture,
            page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
            note = page.locator(".stage .live-note")
            expect(note).to_have_text(
                f"No live view: camera '{CAMERA}' already has {MAX_VIEWERS_PER_CAMERA} live viewers, "
                f"the most one camera serves at once ({MAX_VIEWERS_PER_CAMERA}): close another view of "
                "it, or try again later",
                timeout=UI_WAIT_MS,
            )
        # and when the other viewers leave, the page asks again after the wait the gateway gave, and
        # shows the picture.
        expect(note).to_be_hidden(timeout=UI_WAIT_MS + REFUSED_RETRY_AFTER_S * 1000)
        expect(page.locator(".stage img")).to_have_js_property("complete", True)
        assert page.locator(".stage img").evaluate("image => image.naturalWidth") == 160
