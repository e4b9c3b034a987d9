"""Unsaved zones and lines across the browser's history and reloads, in the real browser against the
real app: a zone drawn and not saved is there again after the page is reloaded, or left for another
page and come back to with the back button, still to be saved or reverted. The
edits lived in the page's document alone, and a reload (or a history step past the console) dropped
them without a word; they are now kept in the tab's session storage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor

CAMERA = "gate"
CONFIG = camera_config(CAMERA, {})


def draw_zone(page: Page) -> None:
    page.get_by_role("button", name="Draw zone").click()
    box = page.locator(".stage svg").first.bounding_box()
    assert box is not None
    for x, y in ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6)):
        page.mouse.click(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
    page.get_by_role("button", name="Finish zone").click()
    expect(page.get_by_role("button", name="Zone zone-1")).to_be_visible()


def reload(page: Page) -> None:
    page.reload()


def away_and_forward(page: Page) -> None:
    url = page.url
    page.goto("about:blank")
    page.go_back()
    assert page.url == url


@pytest.mark.parametrize("leave", [reload, away_and_forward], ids=["reload", "away-and-back"])
def test_a_zone_not_saved_is_kept_when_the_page_is_reloaded_or_left(
    tmp_path: Path, browser: Browser, leave: Callable[[Page], None]
) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, CONFIG, CAMERA) as page:
        # Given a zone drawn and not saved,
        draw_zone(page)
        # when the document goes and comes back,
        leave(page)
        # the zone is there again, said to be unsaved, and saved with one click.
        expect(page.get_by_role("button", name="Zone zone-1")).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.get_by_text("Your unsaved changes are kept")).to_be_visible()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    zones = load_config(config_path).cameras[0].zones
    assert [(zone.name, [list(point) for point in zone.polygon]) for zone in zones] == [
        ("zone-1", [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6]])
    ]


def test_a_reverted_zone_is_not_brought_back_by_a_reload(tmp_path: Path, browser: Browser) -> None:
    with camera_editor(browser, tmp_path / "gateway.yaml", CONFIG, CAMERA) as page:
        draw_zone(page)
        page.get_by_role("button", name="Revert").click()
        expect(page.get_by_text("No zones, lines or motion mask yet.")).to_be_visible(timeout=UI_WAIT_MS)
        page.reload()
        expect(page.get_by_role("button", name="Draw zone")).to_be_enabled(timeout=UI_WAIT_MS)
        expect(page.get_by_text("No zones, lines or motion mask yet.")).to_be_visible()
        expect(page.get_by_role("button", name="Save")).to_be_disabled()
