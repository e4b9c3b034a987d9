"""Console pages as the browser tests open them: the real app of ``console_app`` over its fakes,
served on 127.0.0.1, and one page of its own browser context at a route of the console.

``camera_editor`` is the zone and line editor of one streaming camera with no picture, over a
config file the test writes and reads back; ``live_picture`` is a live view's picture and its note
once the first frame is shown."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.unit.api.fakes import FakeCameras

__all__ = [
    "UI_WAIT_MS",
    "VIEWPORT",
    "camera_config",
    "camera_editor",
    "console_page",
    "gray_jpeg",
    "live_picture",
]

UI_WAIT_MS = 15_000
"""How long a page may take to show what a test waits for, on a busy machine."""
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


def camera_config(camera_id: str, zones: Mapping[str, Sequence[Sequence[float]]]) -> str:
    """A config file's text of the one camera ``camera_id`` (at an RTSP address no test dials)
    with ``zones``, polygons by name, in their order."""
    listed = "".join(
        f"      - {{name: {name}, polygon: {[list(point) for point in polygon]}}}\n"
        for name, polygon in zones.items()
    )
    return f"cameras:\n  - id: {camera_id}\n    url: rtsp://10.0.0.5/stream1\n" + (
        f"    zones:\n{listed}" if zones else ""
    )


@contextmanager
def console_page(browser: Browser, cameras: FakeCameras, config_path: Path, route: str) -> Iterator[Page]:
    """A page at ``route`` (``#/cameras``) of the console served over ``cameras``, editing
    ``config_path``; the app stops when the block ends."""
    with console_app(cameras, config_path) as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"http://127.0.0.1:{served.port}/{route}")
        yield page


@contextmanager
def camera_editor(browser: Browser, config_path: Path, config: str, camera_id: str) -> Iterator[Page]:
    """The editor page of ``camera_id``, streaming with no picture, once its tools are enabled
    (its geometry loaded); ``config`` is written to ``config_path`` first."""
    config_path.write_text(config)
    camera = OneCamera(camera_id, CameraState.STREAMING, None)
    with console_page(browser, camera, config_path, f"#/camera/{camera_id}") as page:
        expect(page.get_by_role("button", name="Draw zone")).to_be_enabled(timeout=UI_WAIT_MS)
        yield page


def gray_jpeg(width: int, height: int) -> bytes:
    """A mid-grey JPEG of that size, encoded by OpenCV."""
    encoded, data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


def live_picture(page: Page, frame: str, width: int) -> tuple[Locator, Locator]:
    """The live picture inside ``frame`` (a CSS selector) and its note, once the first picture,
    ``width`` pixels wide, is shown with no note over it."""
    picture = page.locator(f"{frame} img")
    note = page.locator(f"{frame} .live-note")
    expect(picture).to_have_js_property("naturalWidth", width, timeout=UI_WAIT_MS)
    expect(note).to_be_hidden()
    return picture, note
