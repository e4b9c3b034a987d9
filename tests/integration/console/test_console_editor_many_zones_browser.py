"""A camera of 50 zones edited by keyboard alone, in the real browser against the real app: the list of
shapes is one stop of Tab, the arrow keys (Home, End) going from shape to shape within it, so the
last zone is chosen and moved from the picture in a few keys. Each shape was a stop of its own: 50
presses of Tab to pass the list, and as many of Shift+Tab from the zone chosen back to the picture."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor

CAMERA = "gate"
ZONES = 50


def config() -> str:
    zones = {f"zone-{number}": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.2 + number / 100]] for number in range(ZONES)}
    return camera_config(CAMERA, zones)


def test_the_last_of_fifty_zones_is_chosen_and_moved_in_a_few_keys(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, config(), CAMERA) as page:
        last = page.get_by_role("button", name=f"Zone zone-{ZONES - 1}", exact=True)
        expect(last).to_be_visible(timeout=UI_WAIT_MS)
        # Given the keyboard on Draw mask, Tab enters the list at its first zone,
        page.get_by_role("button", name="Draw mask").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Zone zone-0", exact=True)).to_be_focused()
        # End goes to the last zone and Enter chooses it;
        page.keyboard.press("End")
        expect(last).to_be_focused()
        page.keyboard.press("Enter")
        expect(last).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("ArrowUp")
        expect(page.get_by_role("button", name=f"Zone zone-{ZONES - 2}", exact=True)).to_be_focused()
        # when Shift+Tab leaves the list past Draw mask, Draw line and Draw zone, the picture has the
        # keyboard,
        for _ in range(4):
            page.keyboard.press("Shift+Tab")
        expect(page.get_by_role("application", name="Geometry editor")).to_be_focused()
        # and an arrow key moves the zone chosen, which is saved where the key put it.
        page.keyboard.press("ArrowRight")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    zones = load_config(config_path).cameras[0].zones
    assert [list(point) for point in zones[-1].polygon] == [[0.11, 0.1], [0.51, 0.1], [0.51, 0.69]]
    assert [list(point) for point in zones[0].polygon] == [[0.1, 0.1], [0.5, 0.1], [0.5, 0.2]]
