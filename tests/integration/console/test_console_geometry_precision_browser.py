"""A save from the geometry editor keeps the shapes it did not edit as the config had them: it rounded
every coordinate to 4 decimals on the way out, so drawing one line moved a zone written with 6
decimals (by up to half a ten-thousandth, enough to turn a zone that touched the frame's edge or
another point into a different one). Edited coordinates are rounded where they are made instead, so
what the editor shows and checks is what it saves. The real app and the real browser."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from gateway.domain import CameraState
from tests.integration.console.test_console_hostile_browser import UI_WAIT_MS, line_across
from tests.support.console_app import OneCamera, console_app

CAMERA = "gate"
POLYGON = [[0.123456, 0.100001], [0.876543, 0.100001], [0.876543, 0.654321], [0.123456, 0.654321]]
CONFIG = f"""\
cameras:
  - id: {CAMERA}
    url: rtsp://10.0.0.5/stream1
    model: person-detector
    zones:
      - {{name: yard, polygon: {POLYGON}}}
"""


def decimals(value: float) -> int:
    text = repr(value)
    return len(text.partition(".")[2])


def test_a_save_keeps_the_shapes_not_edited_exactly(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(CONFIG)
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        expect(page.get_by_role("button", name="Draw line")).to_be_enabled(timeout=UI_WAIT_MS)
        # When a line is drawn and saved beside the zone
        line_across(page, 0.3)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
        page.close()
    camera = load_config(config_path).cameras[0]
    # Then the zone is as it was written, and the new line has at most 4 decimals
    assert [list(point) for point in camera.zones[0].polygon] == POLYGON
    (line,) = camera.lines
    assert all(decimals(value) <= 4 for point in line.points for value in point)
    assert all(decimals(value) <= 4 for value in line.in_direction)
