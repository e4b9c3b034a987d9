"""An edit made while a save is on its way, in the real browser against the real app and config file:
Save waits for that save's answer, and the edit stays on screen, unsaved, to be saved next. The edit
enabled Save again, so a second press sent a second save over the version the first was replacing,
and the first save's answer then put its own shapes back over the edit without a word. The save's
answer is held back here until the test lets it go."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor
from tests.support.held_requests import held_route, hold_the_first

CAMERA = "gate"
CONFIG = camera_config(CAMERA, {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]})
GEOMETRY = f"**/v1/cameras/{CAMERA}/geometry"


def test_an_edit_made_while_a_save_is_on_its_way_waits_for_it_and_stays(
    tmp_path: Path, browser: Browser
) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, CONFIG, CAMERA) as page:
        held = hold_the_first(page, GEOMETRY, "PUT")
        editor = page.get_by_role("application", name="Geometry editor")
        save = page.get_by_role("button", name="Save")
        # Given zone a moved left by a key and saved,
        page.get_by_role("button", name="Zone a", exact=True).click()
        editor.focus()
        page.keyboard.press("ArrowLeft")
        save.click()
        route = held_route(page, held, "the save")
        # when the zone is moved down while that save is on its way,
        editor.focus()
        page.keyboard.press("ArrowDown")
        # then Save waits for its answer,
        expect(save).to_be_disabled()
        route.continue_()
        # and once it has come, the move made meanwhile is still there, unsaved, and saved next.
        expect(page.get_by_role("status").last).to_have_text(
            "Saved to the config file and applied; the changes made since are not saved yet.",
            timeout=UI_WAIT_MS,
        )
        expect(save).to_be_enabled()
        save.click()
        expect(page.get_by_text("Saved to the config file and applied.", exact=True)).to_be_visible(
            timeout=UI_WAIT_MS
        )
    zones = load_config(config_path).cameras[0].zones
    assert [[list(point) for point in zone.polygon] for zone in zones] == [
        [[0.09, 0.11], [0.49, 0.11], [0.49, 0.51], [0.09, 0.51]]
    ]
