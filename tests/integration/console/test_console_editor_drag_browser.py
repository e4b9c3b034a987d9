"""Dragging in the geometry editor, in the real browser against the real app and config file: a corner
dragged among many zones moves that corner alone, and what is saved is what was dragged; a selected
zone's corner that a later zone covers can still be grabbed; the corners stay round and their size
on screen when the window is resized while a shape is selected."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.config import load_config
from gateway.domain import CameraState
from tests.integration.console.test_console_hostile_browser import UI_WAIT_MS
from tests.support.console_app import OneCamera, console_app

CAMERA = "gate"
ZONES = 64
CORNERS = 100
HANDLE_PX = 14
# A corner's handle as laid out, stroke left out: width and height in px.
HANDLE_SIZE = (
    "() => { const box = document.querySelector('ellipse.handle').getBoundingClientRect();"
    " return [box.width, box.height]; }"
)


def circle(index: int) -> list[list[float]]:
    """Zone ``index`` of an 8 x 8 grid of overlapping circles of ``CORNERS`` corners."""
    cx, cy = 0.1 + 0.8 * (index % 8) / 7, 0.1 + 0.8 * (index // 8) / 7
    turns = [2 * math.pi * corner / CORNERS for corner in range(CORNERS)]
    return [[round(cx + 0.09 * math.cos(t), 4), round(cy + 0.09 * math.sin(t), 4)] for t in turns]


def config(zones: dict[str, list[list[float]]]) -> str:
    listed = "".join(f"      - {{name: {name}, polygon: {polygon}}}\n" for name, polygon in zones.items())
    return f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n    zones:\n{listed}"


def open_editor(page: Page, port: int, first_zone: str) -> None:
    page.goto(f"http://127.0.0.1:{port}/#/camera/{CAMERA}")
    expect(page.get_by_role("button", name=f"Zone {first_zone}", exact=True)).to_be_visible(
        timeout=UI_WAIT_MS
    )


@dataclass(frozen=True, slots=True)
class Editing:
    page: Page
    port: int
    config_path: Path

    def saved_zones(self) -> dict[str, list[list[float]]]:
        zones = load_config(self.config_path).cameras[0].zones
        return {zone.name: [list(point) for point in zone.polygon] for zone in zones}


@contextmanager
def editing(tmp_path: Path, browser: Browser, zones: dict[str, list[list[float]]]) -> Iterator[Editing]:
    """The camera's editor open in a page on a config of ``zones``, its first zone listed."""
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(config(zones))
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        open_editor(page, served.port, next(iter(zones)))
        yield Editing(page, served.port, config_path)


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A press at ``start``, moved to ``end`` (fractions of the picture) and released."""
    stage = page.get_by_role("application", name="Geometry editor")
    stage.scroll_into_view_if_needed()  # choosing a shape low in a long list scrolls the page
    box = stage.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=10)
    page.mouse.up()


def save(page: Page) -> None:
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)


def test_a_corner_dragged_among_many_zones_moves_alone(tmp_path: Path, browser: Browser) -> None:
    zones = {f"z{index}": circle(index) for index in range(ZONES)}
    with editing(tmp_path, browser, zones) as edited:
        page = edited.page
        # Given zone z27 selected among 64 overlapping zones
        page.get_by_role("button", name="Zone z27", exact=True).click()
        expect(page.locator("ellipse.handle")).to_have_count(CORNERS)
        # when its last corner (drawn over its neighbours, which lie within a handle) is dragged,
        start = zones["z27"][-1]
        drag(page, (start[0], start[1]), (start[0] + 0.05, start[1] + 0.04))
        # then the zone drawn follows,
        drawn = page.locator("polygon.selected").get_attribute("points") or ""
        last = [float(value) for value in drawn.split(" ")[-1].split(",")]
        assert math.dist(last, (start[0] + 0.05, start[1] + 0.04)) < 0.005, drawn
        # and once saved only that corner of that zone is moved.
        save(page)
    saved = edited.saved_zones()
    moved = saved.pop("z27")
    assert saved == {name: polygon for name, polygon in zones.items() if name != "z27"}
    assert moved[:-1] == zones["z27"][:-1]
    assert math.dist(moved[-1], (start[0] + 0.05, start[1] + 0.04)) < 0.005, moved[-1]


def test_a_selected_zones_corner_under_a_later_zone_can_be_grabbed(tmp_path: Path, browser: Browser) -> None:
    # Zone b, listed after a, covers a's corner at (0.5, 0.5).
    zones = {
        "a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]],
        "b": [[0.4, 0.4], [0.8, 0.4], [0.8, 0.8], [0.4, 0.8]],
    }
    with editing(tmp_path, browser, zones) as edited:
        page = edited.page
        # Given zone a selected, when its corner inside zone b is dragged out of b,
        page.get_by_role("button", name="Zone a", exact=True).click()
        drag(page, (0.5, 0.5), (0.6, 0.3))
        save(page)
    # then that corner of a moved, and b stayed where it was.
    saved = edited.saved_zones()
    assert saved["b"] == zones["b"]
    assert saved["a"][:2] == zones["a"][:2]
    assert saved["a"][3] == zones["a"][3]
    assert math.dist(saved["a"][2], (0.6, 0.3)) < 0.005, saved["a"]


def test_corners_keep_their_size_on_screen_when_the_window_is_resized(
    tmp_path: Path, browser: Browser
) -> None:
    zones = {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]}
    with editing(tmp_path, browser, zones) as edited:
        page = edited.page
        page.get_by_role("button", name="Zone a", exact=True).click()
        assert page.evaluate(HANDLE_SIZE) == pytest.approx([HANDLE_PX, HANDLE_PX], abs=0.5)
        # When the window narrows with the zone selected, the picture shrinks
        wide = page.get_by_role("application", name="Geometry editor").bounding_box()
        assert wide is not None
        page.set_viewport_size({"width": 700, "height": 800})
        page.wait_for_function(f"() => document.querySelector('.stage').offsetWidth < {wide['width'] - 100}")
        # but its corners stay round and as big on screen.
        page.wait_for_function(
            f"() => ({HANDLE_SIZE})().every((size) => Math.abs(size - {HANDLE_PX}) < 0.5)",
            timeout=UI_WAIT_MS,
        )


def test_a_drag_the_browser_cancels_moves_the_shape_no_further(tmp_path: Path, browser: Browser) -> None:
    zones = {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]}
    with editing(tmp_path, browser, zones) as edited:
        page = edited.page
        box = page.get_by_role("application", name="Geometry editor").bounding_box()
        assert box is not None
        # Given zone a pressed in its middle and the press then cancelled by the browser (as when a
        # touch turns into a gesture: no pointerup follows),
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
        page.mouse.down()
        page.evaluate(
            "() => document.querySelector('.stage svg').dispatchEvent(new PointerEvent('pointercancel'))"
        )
        # when the pointer moves on,
        page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.6 * box["height"], steps=5)
        page.mouse.up()
        # then the zone stays where it was.
        points = page.locator("polygon.shape").get_attribute("points")
        assert points == " ".join(f"{x},{y}" for x, y in zones["a"]), points


def test_choosing_a_shape_without_moving_it_leaves_nothing_to_save(tmp_path: Path, browser: Browser) -> None:
    zones = {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]}
    with editing(tmp_path, browser, zones) as edited:
        page = edited.page
        box = page.get_by_role("application", name="Geometry editor").bounding_box()
        assert box is not None
        # When zone a is clicked on the picture, then chosen in the list again, and a zone begun,
        page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
        expect(page.get_by_role("button", name="Zone a", exact=True)).to_have_attribute(
            "aria-pressed", "true"
        )
        page.get_by_role("button", name="Zone a", exact=True).click()
        page.get_by_role("button", name="Draw zone").click()
        page.mouse.click(box["x"] + 0.7 * box["width"], box["y"] + 0.7 * box["height"])
        page.keyboard.press("Escape")
        # then nothing was edited: nothing to save or revert, and a page shown again keeps nothing.
        expect(page.get_by_role("button", name="Save")).to_be_disabled()
        expect(page.get_by_role("button", name="Revert")).to_be_disabled()
        page.goto(f"http://127.0.0.1:{edited.port}/#/cameras")
        open_editor(page, edited.port, "a")
        expect(page.get_by_text("Your unsaved changes are kept")).to_have_count(0)
        expect(page.get_by_role("button", name="Save")).to_be_disabled()
