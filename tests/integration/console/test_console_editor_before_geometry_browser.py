"""The zone and line editor before its geometry has arrived, in the real browser against the real app:
its drawing tools wait for that answer, which says whether the camera can be edited at all. Draw zone
and Draw line were enabled at once; pressed before the answer, they did nothing (the editor draws
only once it knows), and on a slow link a keyboard user's press went unanswered, the points placed
next landing nowhere. The answer is held back here until the test lets it go."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT, camera_config
from tests.support.held_requests import held_route, hold_the_first

CAMERA = "gate"
GEOMETRY = f"**/v1/cameras/{CAMERA}/geometry"


def test_the_drawing_tools_wait_for_the_geometry_and_then_draw(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(camera_config(CAMERA, {}))
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page(viewport=VIEWPORT)
        held = hold_the_first(page, GEOMETRY)
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        # Given the editor shown while its geometry's answer is on its way,
        route = held_route(page, held, "the geometry's request")
        expect(page.get_by_role("heading", name=f"Camera {CAMERA}")).to_be_visible(timeout=UI_WAIT_MS)
        # its drawing tools are not offered yet;
        draw_zone = page.get_by_role("button", name="Draw zone")
        expect(draw_zone).to_be_disabled()
        expect(page.get_by_role("button", name="Draw line")).to_be_disabled()
        expect(page.get_by_role("button", name="Draw mask")).to_be_disabled()
        # once it has arrived, they are, and a zone drawn by keyboard alone is drawn and saved.
        route.continue_()
        expect(draw_zone).to_be_enabled(timeout=UI_WAIT_MS)
        draw_zone.focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Shift+Tab")
        expect(page.locator(".stage")).to_be_focused()
        for key in (" ", "Shift+ArrowRight", " ", "Shift+ArrowDown", " ", "Enter"):
            page.keyboard.press(key)
        expect(page.get_by_role("button", name="Zone zone-1")).to_be_visible()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    assert [zone.name for zone in load_config(config_path).cameras[0].zones] == ["zone-1"]
