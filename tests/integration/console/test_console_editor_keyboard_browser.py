"""The geometry editor by keyboard alone, in the real browser against the real app: a shape chosen in
the list with Enter or Space keeps the focus on its button, now pressed. The list is made anew on
each choice, and the focus used to go with the old button to the page's body, so the next key
scrolled the page and a screen reader lost its place."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor

CAMERA = "gate"
CONFIG = camera_config(
    CAMERA, {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]], "b": [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]]}
)


def test_a_shape_chosen_by_keyboard_keeps_the_focus_on_its_button(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, CONFIG, CAMERA) as page:
        for name, key in (("Zone b", "Enter"), ("Zone a", " ")):
            button = page.get_by_role("button", name=name, exact=True)
            expect(button).to_be_visible(timeout=UI_WAIT_MS)
            # When a zone's button is focused and pressed with the key,
            button.focus()
            page.keyboard.press(key)
            # then that zone is chosen and its button keeps the focus.
            expect(button).to_have_attribute("aria-pressed", "true")
            expect(button).to_be_focused()


def test_a_zone_and_a_line_drawn_by_keyboard_alone_are_saved(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, CONFIG, CAMERA) as page:
        draw_zone = page.get_by_role("button", name="Draw zone")
        expect(draw_zone).to_be_enabled(timeout=UI_WAIT_MS)
        # Given zone drawing begun with Enter and the picture, just before the tools, focused,
        draw_zone.focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Shift+Tab")
        expect(page.locator(".stage")).to_be_focused()
        expect(page.locator(".draw-cursor")).to_be_visible()
        # when the cursor is moved from the middle with arrow keys and Space drops three corners,
        # (Shift: steps of 0.05) and Enter closes the zone,
        for keys in (
            ["Shift+ArrowLeft"] * 4 + ["Shift+ArrowUp"] * 4,
            ["Shift+ArrowRight"] * 8,
            ["ArrowDown"] * 40,
        ):
            for key in keys:
                page.keyboard.press(key)
            page.keyboard.press(" ")
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Zone zone-1")).to_be_visible()
        # and a line is drawn the same way, its ends 0.4 apart upwards from where the cursor was,
        page.get_by_role("button", name="Draw line").focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Shift+Tab")  # past Draw zone
        page.keyboard.press("Shift+Tab")
        expect(page.locator(".stage")).to_be_focused()
        page.keyboard.press(" ")
        for _ in range(8):
            page.keyboard.press("Shift+ArrowUp")
        page.keyboard.press(" ")
        expect(page.get_by_role("button", name="Line line-1")).to_be_visible()
        page.get_by_role("button", name="Save").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    # then both are saved where the keys put them.
    camera = load_config(config_path).cameras[0]
    assert [list(point) for point in camera.zones[-1].polygon] == [[0.3, 0.3], [0.7, 0.3], [0.7, 0.7]]
    assert [list(point) for point in camera.lines[0].points] == [[0.7, 0.7], [0.7, 0.3]]
