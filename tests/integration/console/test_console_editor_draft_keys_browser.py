"""Backspace while a zone is drawn by keyboard, in the real browser against the real app: it takes back
the last corner placed. It deleted the zone chosen before the drawing began (its handles still
shown under the draft), the corner it was meant for staying where it was."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor

CAMERA = "gate"
CONFIG = camera_config(CAMERA, {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]})


def test_backspace_while_drawing_takes_back_the_last_corner_and_deletes_nothing(
    tmp_path: Path, browser: Browser
) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, CONFIG, CAMERA) as page:
        zone_a = page.get_by_role("button", name="Zone a", exact=True)
        expect(zone_a).to_be_visible(timeout=UI_WAIT_MS)
        # Given zone a chosen, then a zone drawn by keyboard with a corner placed by mistake,
        zone_a.focus()
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Draw zone").focus()
        page.keyboard.press("Enter")
        page.get_by_role("application", name="Geometry editor").focus()
        for key in ("Shift+ArrowDown", " ", "Shift+ArrowRight", " ", "ArrowDown", " "):
            page.keyboard.press(key)
        # when Backspace takes the mistake back and the right corner is placed instead (the cursor
        # goes on from where it was),
        page.keyboard.press("Backspace")
        for key in ["Shift+ArrowDown"] * 4 + [" ", "Enter"]:
            page.keyboard.press(key)
        # zone a is still there beside the new zone, whose corners are the ones meant.
        expect(page.get_by_role("button", name="Zone zone-1", exact=True)).to_be_visible()
        expect(zone_a).to_be_visible()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    zones = load_config(config_path).cameras[0].zones
    assert [(zone.name, [list(point) for point in zone.polygon]) for zone in zones] == [
        ("a", [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]),
        ("zone-1", [[0.5, 0.55], [0.55, 0.55], [0.55, 0.76]]),
    ]
