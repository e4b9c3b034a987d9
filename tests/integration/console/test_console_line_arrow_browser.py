"""A counting line's ``in`` arrow in the zone and line editor, in the real browser against the real
app: it lies on the live picture's own arrow. The editor drew it 0.08 of its 0-1 square long, which
on a wide camera's picture, along its width, is 0.08 of that width, where the picture's arrow is
0.08 of its smaller side: the editor's ran on past the picture's tip and over the line's name that
the picture writes just beyond it (the README's camera screenshot showed it so). Wide, 4:3 and
portrait pictures, across and aslant, and a camera that turns to portrait while its page is open.
The picture is the one the gateway draws (``draw_snapshot``), served by the API tests' camera fake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.config import LineConfig
from gateway.domain import CameraState
from gateway.ingest.snapshot import draw_snapshot, in_arrow
from tests.support.console_app import OneCamera, console_app
from tests.support.console_pages import UI_WAIT_MS

CAMERA = "gate"
POINTS = ((0.3, 0.6), (0.7, 0.4))
TOLERANCE_PX = 2.0
"""The picture rounds the segment's ends and middle to whole pixels; the editor does not."""


def line(direction: tuple[float, float]) -> LineConfig:
    return LineConfig(name="aisle", points=POINTS, in_direction=direction)


def picture(width: int, height: int, direction: tuple[float, float]) -> bytes:
    return draw_snapshot(np.full((height, width, 3), 90, np.uint8), [], [], [line(direction)])


def config(direction: tuple[float, float]) -> str:
    points = [list(point) for point in POINTS]
    return (
        f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"
        f"    lines: [{{name: aisle, points: {points}, in_direction: {list(direction)}}}]\n"
    )


def editor_tip(page: Page, width: int, height: int) -> tuple[float, float]:
    """The editor's arrow tip in the picture's pixels, once the picture of ``width`` by ``height`` is
    shown and the editor has drawn over it in its shape (a frame later: the resize is observed)."""
    page.wait_for_function(
        """([width, height]) => {
          const image = document.querySelector('.stage img');
          const box = document.querySelector('.stage svg').getBoundingClientRect();
          return image && image.naturalWidth === width && image.naturalHeight === height
            && box.height > 0 && Math.abs(box.width / box.height - width / height) < 0.01 * width / height;
        }""",
        arg=[width, height],
        timeout=UI_WAIT_MS,
    )
    x, y = page.evaluate(
        """() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => {
          const tip = document.querySelector('.stage .arrow line');
          done([tip.x2.baseVal.value, tip.y2.baseVal.value]);
        })))"""
    )
    return x * width, y * height


def assert_on_pictures_tip(page: Page, width: int, height: int, direction: tuple[float, float]) -> None:
    _, (x, y) = in_arrow(line(direction), width, height)
    drawn = editor_tip(page, width, height)
    off = max(abs(drawn[0] - x), abs(drawn[1] - y))
    assert off <= TOLERANCE_PX, (
        f"the editor's arrow ends at {drawn[0]:.1f}, {drawn[1]:.1f} on a {width} x {height} picture "
        f"whose own arrow ends at {x}, {y}"
    )


@pytest.mark.parametrize(
    ("width", "height", "direction"),
    [(1280, 720, (1.0, 0.0)), (640, 480, (1.0, 1.0)), (360, 640, (0.0, -1.0))],
)
def test_the_editors_in_arrow_ends_on_the_pictures_own(
    tmp_path: Path, browser: Browser, width: int, height: int, direction: tuple[float, float]
) -> None:
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(config(direction))
    camera = OneCamera(CAMERA, CameraState.STREAMING, picture(width, height, direction))
    with console_app(camera, config_path) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        expect(page.get_by_role("button", name="Line aisle")).to_be_visible(timeout=UI_WAIT_MS)
        assert_on_pictures_tip(page, width, height, direction)


def test_the_arrow_follows_a_camera_turned_to_portrait(tmp_path: Path, browser: Browser) -> None:
    direction = (1.0, 0.0)
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(config(direction))
    camera = OneCamera(CAMERA, CameraState.STREAMING, picture(1280, 720, direction))
    with console_app(camera, config_path) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        expect(page.get_by_role("button", name="Line aisle")).to_be_visible(timeout=UI_WAIT_MS)
        assert_on_pictures_tip(page, 1280, 720, direction)
        camera.jpeg = picture(720, 1280, direction)
        assert_on_pictures_tip(page, 720, 1280, direction)
