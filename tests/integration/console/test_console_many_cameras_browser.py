"""The cameras page of a gateway with more cameras than a browser opens connections to one host (six):
every tile shows a picture once on screen, and the page keeps refreshing. A live view holds its
connection for as long as it shows, so twelve live tiles left six black and the page's own requests
waiting behind the streams for good."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.support.clips import HEIGHT, WIDTH, moving_clip, write_mp4
from tests.support.picture_box import assert_asked_for_its_box, longest_side_in
from tests.support.serve import serve_cameras

CAMERAS = 12
UI_WAIT_MS = 15_000


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("many-cameras")
    clip = write_mp4(moving_clip(length=50), directory / "clip.mp4")
    cameras = [
        {
            "id": f"camera-{index:02d}",
            "url": str(clip),
            "detect_fps": 1,
            "model": "face-detector",
            "motion": {"enabled": False},
        }
        for index in range(CAMERAS)
    ]
    process = serve_cameras(directory, "many-cameras", cameras)
    try:
        port = process.api_port()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()


def test_every_tile_shows_a_picture_and_the_page_keeps_refreshing(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(base + "/#/cameras")
        tiles = page.locator("article.tile")
        expect(tiles).to_have_count(CAMERAS, timeout=UI_WAIT_MS)
        # When each tile in turn is scrolled onto the screen, then it shows its camera's picture
        for index in range(CAMERAS):
            tile = tiles.nth(index)
            tile.scroll_into_view_if_needed()
            picture = tile.locator("img.live")
            expect(picture).to_have_js_property("naturalWidth", WIDTH, timeout=UI_WAIT_MS)
            expect(picture).to_have_js_property("naturalHeight", HEIGHT)
            # as large as the tile shows it (a 4K camera's own picture is up to 820 KiB)
            assert_asked_for_its_box(longest_side_in(picture.get_attribute("src") or ""), picture, scale=1)
        # and the page's refresh still gets its answers, twice over
        for _ in range(2):
            with page.expect_response(
                lambda response: response.url == base + "/v1/cameras", timeout=UI_WAIT_MS
            ):
                pass
        expect(tiles.nth(CAMERAS - 1).get_by_text("streaming")).to_be_visible()
    finally:
        page.close()


@pytest.mark.parametrize(
    ("viewport", "scale"),
    [
        ({"width": 1280, "height": 720}, 2),
        ({"width": 390, "height": 844}, 3),
        ({"width": 700, "height": 900}, 2),
    ],
)
def test_a_tile_asks_for_its_picture_at_the_size_it_shows_it(
    browser: Browser, base: str, viewport: ViewportSize, scale: float
) -> None:
    page = browser.new_page(viewport=viewport, device_scale_factor=scale)
    try:
        page.goto(base + "/#/cameras")
        picture = page.locator("article.tile").first.locator("img.live")
        expect(picture).to_have_js_property("naturalWidth", WIDTH, timeout=UI_WAIT_MS)
        assert_asked_for_its_box(longest_side_in(picture.get_attribute("src") or ""), picture, scale)
    finally:
        page.close()


def test_twelve_cameras_are_four_to_a_row_on_a_wide_screen_and_fewer_on_a_narrow_one(
    browser: Browser, base: str
) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        page.goto(base + "/#/cameras")
        tiles = page.locator("article.tile")
        expect(tiles).to_have_count(CAMERAS, timeout=UI_WAIT_MS)
        assert tiles_to_a_row(page) == 4
        # 320 pixels a tile at least: three to a row where four do not fit, one on a phone
        page.set_viewport_size({"width": 1280, "height": 720})
        assert tiles_to_a_row(page) == 3
        page.set_viewport_size({"width": 390, "height": 844})
        assert tiles_to_a_row(page) == 1
    finally:
        page.close()


def test_the_columns_for_so_many_cameras(browser: Browser, base: str) -> None:
    page = browser.new_page()
    try:
        page.goto(base + "/#/cameras")
        columns = page.evaluate(
            """async () => {
  const { columnsFor } = await import("/console/cameras.js");
  return [0, 1, 2, 3, 4, 5, 9, 10, 16, 17, 100].map(columnsFor);
}"""
        )
        assert columns == [1, 1, 2, 3, 2, 3, 3, 4, 4, 5, 10]
    finally:
        page.close()


def tiles_to_a_row(page: Page) -> int:
    """How many tiles the first row holds, each as wide as the others and the row as the grid."""
    return int(
        page.evaluate(
            """() => {
  const grid = document.querySelector(".camera-grid").getBoundingClientRect();
  const boxes = [...document.querySelectorAll("article.tile")].map((tile) => tile.getBoundingClientRect());
  const row = boxes.filter((box) => Math.abs(box.top - boxes[0].top) < 1);
  if (row.some((box) => Math.abs(box.width - row[0].width) > 1)) throw new Error("tiles of unequal widths");
  if (Math.abs(row.at(-1).right - grid.right) > 1) throw new Error("a row short of the grid's width");
  return row.length;
}"""
        )
    )


def test_a_camera_page_opened_from_the_grid_shows_its_live_view(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(base + "/#/cameras")
        expect(page.locator("article.tile")).to_have_count(CAMERAS, timeout=UI_WAIT_MS)
        view = f"{base}/v1/cameras/camera-11/stream.mjpeg?longest_side="
        sized = lambda request: request.url.startswith(view)  # noqa: E731
        with page.expect_request(sized, timeout=UI_WAIT_MS) as asked:
            page.get_by_role("link", name="camera-11").click()
        live = page.locator(".stage img")
        expect(live).to_have_js_property("naturalWidth", WIDTH, timeout=UI_WAIT_MS)
        # at the size the stage shows it
        assert_asked_for_its_box(longest_side_in(asked.value.url), live, scale=1)
    finally:
        page.close()


def test_the_camera_pages_live_view_is_asked_for_again_when_the_stage_grows(
    browser: Browser, base: str
) -> None:
    page = browser.new_page(viewport={"width": 700, "height": 900})
    try:
        streamed = lambda request: "/v1/cameras/camera-03/stream.mjpeg" in request.url  # noqa: E731
        with page.expect_request(streamed, timeout=UI_WAIT_MS) as first:
            page.goto(base + "/#/camera/camera-03")
        live = page.locator(".stage img")
        expect(live).to_have_js_property("naturalWidth", WIDTH, timeout=UI_WAIT_MS)
        # When the window is made wider, and the stage with it
        with page.expect_request(streamed, timeout=UI_WAIT_MS) as second:
            page.set_viewport_size({"width": 1600, "height": 900})
        # then the view is asked for again, at the stage's new size.
        assert longest_side_in(second.value.url) > longest_side_in(first.value.url)
        assert_asked_for_its_box(longest_side_in(second.value.url), live, scale=1)
    finally:
        page.close()
