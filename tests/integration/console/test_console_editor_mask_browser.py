"""The motion mask in the geometry editor, in the real browser against the real app and config file:
an outline drawn over the picture is saved into the camera's ``motion.mask``, beside the motion
settings and comments already written there; one deleted leaves the mask empty; a save that does
not touch the mask leaves it as the file writes it; the saved mask, shaded by the live picture, is
only outlined over it. The mask was written in the file by hand only."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_editor

CAMERA = "gate"
CORNERS = ((0.05, 0.05), (0.45, 0.05), (0.45, 0.45), (0.05, 0.45))
MOTION = """\
    motion:
      min_area: 0.01  # the wind moves the hedge a little
"""
HAND_WRITTEN_MASK = """\
      mask:
        # the clock in the top right corner, written as a person writes it (a save would write 1.0)
        - [[0.8, 0], [1, 0], [1, 0.1], [0.8, 0.1]]
"""


TRANSPARENT = "rgba(0, 0, 0, 0)"


def config(motion: str, zones: str = "") -> str:
    return f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n{zones}{motion}"


def click_at(page: Page, x: float, y: float) -> None:
    box = page.get_by_role("application", name="Geometry editor").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def saved(page: Page) -> None:
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)


def test_a_mask_drawn_over_the_picture_is_saved_into_the_cameras_motion_settings(
    tmp_path: Path, browser: Browser
) -> None:
    path = tmp_path / "gateway.yaml"
    with camera_editor(browser, path, config(MOTION), CAMERA) as page:
        # Given an outline drawn around the top left quarter with Draw mask, closed with Finish mask,
        page.get_by_role("button", name="Draw mask").click()
        expect(page.get_by_role("status")).to_contain_text("Outline where change is never motion")
        for x, y in CORNERS:
            click_at(page, x, y)
        page.get_by_role("button", name="Finish mask").click()
        # it is listed, chosen, and says what it does; it has no name to give
        expect(page.get_by_role("button", name="Motion mask 1")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("status")).to_contain_text("Change inside motion mask 1 is never motion")
        expect(page.get_by_label("Name of the selected shape")).to_be_disabled()
        expect(page.get_by_label("Name of the selected shape")).to_have_value("")
        expect(page.locator("polygon.shape.mask")).not_to_have_class(re.compile(r"\bsaved\b"))
        saved(page)
        # (now the picture shades it, the editor only outlines it)
        expect(page.locator("polygon.shape.mask")).to_have_class(re.compile(r"\bsaved\b"))
    # and once saved, the file's motion settings hold it beside what they held, comment and all.
    text = path.read_text()
    assert MOTION in text
    motion = load_config(path).cameras[0].motion
    assert motion.min_area == 0.01
    [outline] = motion.mask
    for (x, y), (want_x, want_y) in zip(outline, CORNERS, strict=True):
        assert abs(x - want_x) < 0.01, outline
        assert abs(y - want_y) < 0.01, outline


def test_a_deleted_mask_outline_is_saved_as_none_and_gating_off_is_said(
    tmp_path: Path, browser: Browser
) -> None:
    path = tmp_path / "gateway.yaml"
    gating_off = config("    motion:\n      enabled: false\n" + HAND_WRITTEN_MASK)
    with camera_editor(browser, path, gating_off, CAMERA) as page:
        page.get_by_role("button", name="Motion mask 1").click()
        expect(page.get_by_role("status")).to_contain_text("Motion gating is off for this camera")
        page.get_by_role("button", name="Delete").click()
        expect(page.get_by_text("No zones, lines or motion mask yet.")).to_be_visible()
        saved(page)
    assert load_config(path).cameras[0].motion.mask == []


def test_a_save_of_zones_alone_leaves_the_mask_as_written(tmp_path: Path, browser: Browser) -> None:
    path = tmp_path / "gateway.yaml"
    zones = "    zones:\n      - {name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0]]}\n"
    with camera_editor(browser, path, config(MOTION + HAND_WRITTEN_MASK, zones), CAMERA) as page:
        page.get_by_role("button", name="Zone yard").click()
        page.get_by_label("Name of the selected shape").fill("lawn")
        saved(page)
    assert MOTION + HAND_WRITTEN_MASK in path.read_text()
    assert [zone.name for zone in load_config(path).cameras[0].zones] == ["lawn"]


def test_the_saved_mask_is_outlined_over_the_pictures_shading_and_shaded_once_moved(
    tmp_path: Path, browser: Browser
) -> None:
    path = tmp_path / "gateway.yaml"
    with camera_editor(browser, path, config(MOTION + HAND_WRITTEN_MASK), CAMERA) as page:
        outline = page.locator("polygon.shape.mask")
        # Given the file's mask, which the live picture shades already, it is outlined, not shaded again
        expect(outline).to_have_class(re.compile(r"\bsaved\b"))
        assert outline.evaluate("element => getComputedStyle(element).fill") == TRANSPARENT
        # yet a click inside it still picks it;
        click_at(page, 0.9, 0.05)
        expect(page.get_by_role("button", name="Motion mask 1")).to_have_attribute("aria-pressed", "true")
        # dragged, it is shaded itself as soon as it leaves where the picture shades it, before the drop,
        box = page.get_by_role("application", name="Geometry editor").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.05 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.3 * box["height"], steps=5)
        expect(outline).not_to_have_class(re.compile(r"\bsaved\b"))
        assert outline.evaluate("element => getComputedStyle(element).fill") != TRANSPARENT
        page.mouse.up()
        # and moved back by the keyboard onto the saved place (up against the top), only outlined again.
        for _ in range(30):
            page.keyboard.press("ArrowUp")
        expect(outline).to_have_class(re.compile(r"\bsaved\b"))
