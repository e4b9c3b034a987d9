"""The editor's buttons pressed by keyboard, in the real browser against the real app: a button that
its own press disables (Delete, Save, Finish zone, Revert) hands the keyboard to the editor, where the
editing goes on. The focus fell to the page's body, and the next Tab started again from the top of
the page, past the skip link and every page's link, to come back."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor

CAMERA = "gate"
CONFIG = camera_config(
    CAMERA, {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]], "b": [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]]}
)


def press(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).focus()
    page.keyboard.press("Enter")


def test_a_button_its_own_press_disables_hands_the_keyboard_to_the_editor(
    tmp_path: Path, browser: Browser
) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, CONFIG, CAMERA) as page:
        editor = page.get_by_role("application", name="Geometry editor")
        expect(page.get_by_role("button", name="Zone a", exact=True)).to_be_visible(timeout=UI_WAIT_MS)
        # Given zone a chosen, Delete pressed removes it and leaves the keyboard on the editor;
        press(page, "Zone a")
        press(page, "Delete")
        expect(page.get_by_role("button", name="Zone a", exact=True)).to_have_count(0)
        expect(editor).to_be_focused()
        # a zone drawn there and closed with Finish zone leaves it there too;
        press(page, "Draw zone")
        page.keyboard.press("Shift+Tab")
        for key in (" ", "Shift+ArrowRight", " ", "Shift+ArrowDown", " "):
            page.keyboard.press(key)
        press(page, "Finish zone")
        expect(page.get_by_role("button", name="Zone zone-1", exact=True)).to_be_visible()
        expect(editor).to_be_focused()
        # and so does Save, once saved, the next Tab going on to the editor's tools, not the page's top.
        press(page, "Save")
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
        expect(editor).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Draw zone")).to_be_focused()
        # Revert, which an edit enables (zone b moved by a key), hands it over the same way.
        press(page, "Zone b")
        editor.focus()
        page.keyboard.press("ArrowLeft")
        expect(page.get_by_role("button", name="Revert")).to_be_enabled()
        press(page, "Revert")
        expect(page.get_by_role("button", name="Revert")).to_be_disabled(timeout=UI_WAIT_MS)
        expect(editor).to_be_focused()
    assert [zone.name for zone in load_config(config_path).cameras[0].zones] == ["b", "zone-1"]
