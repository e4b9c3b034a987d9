"""The console's Cameras page in a real browser (Debian's chromium): its tiles are the cameras of the
latest answer, and no camera's state is claimed while its refreshes fail.

- a camera a config reload removed kept its tile for as long as the page was open, its live view or
  its snapshot asking for a camera that was gone; the last one removed left its tile under "This
  gateway has no cameras configured.". Its tile goes, nothing more is asked for it, and a camera
  the next reload puts back gets a tile of its own again;
- after a refresh failed, the tiles kept their state badges in colour and a failed camera its red
  frame, under the error line: a reader saw a camera streaming, or failed, while its state was
  unknown. The tiles stay, said to be as last read and when, with no state in colour, until a
  refresh succeeds again;
- the notes over the tiles' pictures kept saying so too ("Last picture ...: the camera is
  reconnecting", "No picture: the camera is failed"): while refreshes fail they say the camera's
  state now is unknown;
- with more cameras than live views (a snapshot each), a streaming camera's tile kept its last
  snapshot with no word over it while refreshes failed, which renew snapshots no more: a picture of
  then read as the camera now. Its note says when the picture is of and that the camera's state now
  is unknown, until a refresh succeeds and the snapshot is renewed;
- a reload that reordered the cameras left the tiles already shown in their old places: they follow
  the answer's order, moved rather than rebuilt, their live views going on as they were;
- a camera with no picture (its live view not yet started, or its snapshot answered 404) had its
  picture's alt text and a broken-image icon painted in the corner of its frame, under the note
  saying why there is no picture: nothing is painted there until a picture loads.

The real API app on 127.0.0.1 over a hand-written camera directory, changed as a reload changes the
real one; the 503 is the browser's own route.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from gateway.domain import CameraState, CameraStatus
from tests.support.console_app import console_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT, gray_jpeg
from tests.unit.api.fakes import FakeCameras

CONFIG = "cameras:\n  - id: gate\n    url: rtsp://10.0.0.5/stream1\n"
UNAVAILABLE = "the gateway's camera directory is unavailable"
ERROR_CLASS = re.compile(r"(^|\s)error(\s|$)")
STATE_COLOUR = re.compile(r"(^|\s)state-")
FAILED_FRAME = re.compile(r"(^|\s)failed(\s|$)")
AS_READ = re.compile(r"^What follows was read at .+; the cameras' states now are unknown\.$")
LIVE_TILES = 4
"""Cameras up to which each tile is a live view (cameras.js), beyond which a snapshot."""


class Cameras(FakeCameras):
    """A camera directory of any cameras, each streaming a grey picture unless told otherwise;
    ``remove`` changes it as a config reload that removed a camera changes the gateway's."""

    def __init__(self, camera_ids: Sequence[str]) -> None:
        super().__init__()
        self.jpeg = gray_jpeg(160, 90)
        self.statuses = {camera_id: self.made(camera_id) for camera_id in camera_ids}
        self.pictureless: set[str] = set()

    def made(self, camera_id: str) -> CameraStatus:
        return dataclasses.replace(self.status, camera_id=camera_id, state=CameraState.STREAMING)

    def remove(self, camera_id: str) -> None:
        del self.statuses[camera_id]

    def cameras(self) -> Sequence[CameraStatus]:
        return list(self.statuses.values())

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self.statuses.get(camera_id)

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        return self.jpeg if camera_id in self.statuses and camera_id not in self.pictureless else None

    def reorder(self, camera_ids: Sequence[str]) -> None:
        self.statuses = {camera_id: self.statuses[camera_id] for camera_id in camera_ids}


def tile(camera_id: str) -> str:
    return f'article.tile[data-camera="{camera_id}"]'


def refreshed(page: Page, port: int) -> None:
    """Returns once the page's refresh has had one more answer."""
    with page.expect_response(f"http://127.0.0.1:{port}/v1/cameras", timeout=UI_WAIT_MS):
        pass


# Up to four cameras each tile is a live view; with more, a snapshot renewed while on screen.
@pytest.mark.parametrize("count", [2, 5])
def test_a_camera_a_reload_removed_loses_its_tile(tmp_path: Path, browser: Browser, count: int) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    camera_ids = [f"camera-{number}" for number in range(count)]
    removed = camera_ids[1]
    cameras = Cameras(camera_ids)
    errors: list[str] = []
    asked: list[str] = []
    with console_app(cameras, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        tiles = page.locator("article.tile")
        expect(tiles).to_have_count(count, timeout=UI_WAIT_MS)
        expect(page.locator(tile(removed)).locator("img.live")).to_have_js_property(
            "naturalWidth", 160, timeout=UI_WAIT_MS
        )
        gone_tile = page.locator(tile(removed)).element_handle()

        # Given a reload that removed one camera
        cameras.remove(removed)

        # Then its tile goes, the others stay
        expect(page.locator(tile(removed))).to_have_count(0, timeout=UI_WAIT_MS)
        expect(tiles).to_have_count(count - 1)

        # and nothing more is asked for it (its live view, its snapshot), refresh after refresh
        def ask(request: Request) -> None:
            if f"/v1/cameras/{removed}/" in request.url:
                asked.append(request.url)

        page.on("request", ask)
        for _ in range(3):
            refreshed(page, served.port)
        assert asked == []

        # When the next reload puts it back, then it has a tile of its own again, in its place
        cameras.statuses = {camera_id: cameras.made(camera_id) for camera_id in camera_ids}
        expect(tiles).to_have_count(count, timeout=UI_WAIT_MS)
        expect(tiles.nth(1)).to_have_attribute("data-camera", removed)
        back = page.locator(tile(removed))
        expect(back.locator("img.live")).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(back.get_by_text("streaming", exact=True)).to_be_visible()
        assert gone_tile.evaluate("old => old.isConnected") is False
        assert errors == []


def test_the_last_camera_removed_leaves_no_tile(tmp_path: Path, browser: Browser) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    cameras = Cameras(["gate"])
    with console_app(cameras, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        expect(page.locator("article.tile")).to_have_count(1, timeout=UI_WAIT_MS)

        # Given a reload that removed the last camera, then the page says there is none, and shows none
        cameras.remove("gate")
        message = page.locator("main p[role=status]")
        expect(message).to_have_text("This gateway has no cameras configured.", timeout=UI_WAIT_MS)
        expect(page.locator("article.tile")).to_have_count(0, timeout=UI_WAIT_MS)


def test_a_failed_refresh_leaves_no_camera_state_in_colour(tmp_path: Path, browser: Browser) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    cameras = Cameras(["gate", "yard"])
    cameras.statuses["yard"] = dataclasses.replace(
        cameras.statuses["yard"], state=CameraState.FAILED, last_error="401 Unauthorized from the camera"
    )
    errors: list[str] = []
    with console_app(cameras, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        message = page.locator("main p[role=status]")
        as_read = page.get_by_text(AS_READ)
        streaming = page.locator(tile("gate")).locator(".pill")
        failed = page.locator(tile("yard"))
        expect(streaming).to_have_text("streaming", timeout=UI_WAIT_MS)
        expect(streaming).to_have_class(STATE_COLOUR)
        expect(failed).to_have_class(FAILED_FRAME, timeout=UI_WAIT_MS)
        expect(failed.locator(".pill")).to_have_class(STATE_COLOUR)
        expect(as_read).to_be_hidden()

        # Given the refreshes of the cameras answered 503
        def unavailable(route: Route) -> None:
            route.fulfill(status=503, json={"error": UNAVAILABLE})

        page.route("**/v1/cameras", unavailable)
        expect(message).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
        expect(message).to_have_class(ERROR_CLASS)

        # Then the tiles are said to be as last read, their states in no colour and no frame red
        expect(as_read).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.locator("article.tile")).to_have_count(2)
        expect(streaming).to_have_text("streaming")
        expect(failed.locator(".pill")).to_have_text("failed")
        for pill in page.locator("main .pill").all():
            expect(pill).not_to_have_class(STATE_COLOUR)
        expect(failed).not_to_have_class(FAILED_FRAME)
        expect(failed.get_by_text("401 Unauthorized from the camera")).to_be_visible()

        # When a refresh succeeds again, then the states are the cameras' own again
        page.unroute("**/v1/cameras")
        expect(as_read).to_be_hidden(timeout=UI_WAIT_MS)
        expect(message).to_have_text("")
        expect(streaming).to_have_class(STATE_COLOUR)
        expect(failed).to_have_class(FAILED_FRAME)
        expect(failed.locator(".pill")).to_have_class(STATE_COLOUR)
        assert errors == []


def test_a_failed_refresh_leaves_no_camera_state_over_the_pictures(tmp_path: Path, browser: Browser) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    cameras = Cameras(["gate", "yard"])
    # gate went down while its last frame is still served; yard failed before its first one.
    cameras.statuses["gate"] = dataclasses.replace(cameras.statuses["gate"], state=CameraState.RECONNECTING)
    cameras.statuses["yard"] = dataclasses.replace(cameras.statuses["yard"], state=CameraState.FAILED)
    cameras.pictureless.add("yard")
    errors: list[str] = []
    with console_app(cameras, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        last_picture = page.locator(tile("gate")).locator(".live-note")
        no_picture = page.locator(tile("yard")).locator(".live-note")
        expect(last_picture).to_have_text(
            re.compile(r"^Last picture .+: the camera is reconnecting$"), timeout=UI_WAIT_MS
        )
        expect(no_picture).to_have_text("No picture: the camera is failed", timeout=UI_WAIT_MS)

        # Given the refreshes of the cameras answered 503
        def unavailable(route: Route) -> None:
            route.fulfill(status=503, json={"error": UNAVAILABLE})

        page.route("**/v1/cameras", unavailable)
        expect(page.get_by_text(AS_READ)).to_be_visible(timeout=UI_WAIT_MS)

        # Then each picture's note says the camera's state now is unknown, not the state last read
        expect(last_picture).to_have_text(
            re.compile(r"^Last picture .+; the camera's state now is unknown$"), timeout=UI_WAIT_MS
        )
        expect(no_picture).to_have_text("No picture; the camera's state now is unknown")
        expect(last_picture).to_be_visible()
        expect(no_picture).to_be_visible()

        # When a refresh succeeds again, then the notes say the cameras' states again
        page.unroute("**/v1/cameras")
        expect(page.get_by_text(AS_READ)).to_be_hidden(timeout=UI_WAIT_MS)
        expect(last_picture).to_have_text(re.compile(r"^Last picture .+: the camera is reconnecting$"))
        expect(no_picture).to_have_text("No picture: the camera is failed")
        assert errors == []


def test_a_failed_refresh_says_a_snapshot_is_of_then(tmp_path: Path, browser: Browser) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    camera_ids = [f"camera-{number}" for number in range(LIVE_TILES + 1)]
    cameras = Cameras(camera_ids)
    errors: list[str] = []
    with console_app(cameras, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        first = page.locator(tile(camera_ids[0]))
        note = first.locator(".live-note")
        expect(first.locator("img.live")).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(first.locator("img.live")).to_have_attribute("src", re.compile(r"snapshot\.jpg"))
        expect(note).to_be_hidden()

        # Given the refreshes of the cameras answered 503 (so no snapshot is renewed)
        def unavailable(route: Route) -> None:
            route.fulfill(status=503, json={"error": UNAVAILABLE})

        page.route("**/v1/cameras", unavailable)
        expect(page.get_by_text(AS_READ)).to_be_visible(timeout=UI_WAIT_MS)

        # Then the streaming camera's snapshot is said to be of then, the camera's state now unknown
        expect(note).to_be_visible(timeout=UI_WAIT_MS)
        expect(note).to_have_text(re.compile(r"^Last picture .+; the camera's state now is unknown$"))
        expect(page.locator("article.tile .live-note:visible")).to_have_count(len(camera_ids))

        # When a refresh succeeds again, then the snapshots are renewed and stand without a note
        page.unroute("**/v1/cameras")
        expect(page.get_by_text(AS_READ)).to_be_hidden(timeout=UI_WAIT_MS)
        expect(note).to_be_hidden(timeout=UI_WAIT_MS)
        assert errors == []


def shown_order(page: Page, camera_ids: Sequence[str]) -> None:
    """Waits until the tiles on screen are those of ``camera_ids``, in that order."""
    tiles = page.locator("article.tile")
    expect(tiles).to_have_count(len(camera_ids), timeout=UI_WAIT_MS)
    for index, camera_id in enumerate(camera_ids):
        expect(tiles.nth(index)).to_have_attribute("data-camera", camera_id, timeout=UI_WAIT_MS)


# Three cameras are live views; five are snapshots renewed while on screen.
@pytest.mark.parametrize("count", [3, 5])
def test_the_tiles_follow_a_reordered_answer(tmp_path: Path, browser: Browser, count: int) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    camera_ids = [f"camera-{number}" for number in range(count)]
    cameras = Cameras(camera_ids)
    errors: list[str] = []
    streams: list[str] = []
    ended: list[str] = []
    with console_app(cameras, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "request", lambda request: streams.append(request.url) if "stream.mjpeg" in request.url else None
        )
        page.on("requestfailed", lambda request: ended.append(request.url))
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        shown_order(page, camera_ids)
        first = camera_ids[0]
        expect(page.locator(tile(first)).locator("img.live")).to_have_js_property(
            "naturalWidth", 160, timeout=UI_WAIT_MS
        )
        before = {camera_id: page.locator(tile(camera_id)).element_handle() for camera_id in camera_ids}
        streams_before = sorted(streams)
        # The last tile's link has the keyboard's focus.
        last = camera_ids[-1]
        link = page.locator(tile(last)).get_by_role("link", name=last)
        link.focus()

        # Given a reload that put the last camera first
        reordered = [last, *camera_ids[:-1]]
        cameras.reorder(reordered)

        # Then the tiles follow the answer's order, the same tiles moved, not new ones
        shown_order(page, reordered)
        for index, camera_id in enumerate(reordered):
            now = page.locator("article.tile").nth(index).element_handle()
            assert page.evaluate("([now, before]) => now === before", [now, before[camera_id]])
        # and the moved tile keeps the keyboard's focus,
        expect(link).to_be_focused()
        # its picture still shown
        expect(page.locator(tile(last)).locator("img.live")).to_have_js_property(
            "naturalWidth", 160, timeout=UI_WAIT_MS
        )
        # and no live view was asked for again or ended, refresh after refresh
        for _ in range(2):
            refreshed(page, served.port)
        assert sorted(streams) == streams_before
        assert [url for url in ended if "stream.mjpeg" in url] == []
        assert len(streams_before) == (count if count <= LIVE_TILES else 0)
        assert errors == []


# Two cameras are live views; with five each tile is a snapshot, the failed camera's answered 404.
@pytest.mark.parametrize("count", [2, 5])
def test_a_camera_with_no_picture_paints_no_broken_image(
    tmp_path: Path, browser: Browser, count: int
) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    camera_ids = [f"camera-{number}" for number in range(count)]
    dark = camera_ids[-1]
    cameras = Cameras(camera_ids)
    cameras.statuses[dark] = dataclasses.replace(cameras.statuses[dark], state=CameraState.FAILED)
    cameras.pictureless.add(dark)
    errors: list[str] = []
    with console_app(cameras, tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        dark_tile = page.locator(tile(dark))
        dark_tile.scroll_into_view_if_needed(timeout=UI_WAIT_MS)
        picture = dark_tile.locator("img.live")
        lit = page.locator(tile(camera_ids[0])).locator("img.live")
        if count > LIVE_TILES:
            expect(picture).to_have_attribute("src", re.compile(r"snapshot\.jpg"), timeout=UI_WAIT_MS)

        # Then the camera with no picture has its frame and its note, and no picture painted
        expect(dark_tile.locator(".live-note")).to_have_text(
            "No picture: the camera is failed", timeout=UI_WAIT_MS
        )
        expect(picture).to_be_hidden(timeout=UI_WAIT_MS)
        expect(lit).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(lit).to_be_visible()
        # and so has its camera page's picture, under the editor
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{dark}")
        stage_picture = page.locator(".stage img")
        expect(page.locator(".stage").get_by_text("No picture: the camera is failed")).to_be_visible(
            timeout=UI_WAIT_MS
        )
        expect(stage_picture).to_be_hidden()

        # When the camera streams a picture, then it is shown, on its page and on its tile
        cameras.pictureless.discard(dark)
        cameras.statuses[dark] = dataclasses.replace(cameras.statuses[dark], state=CameraState.STREAMING)
        expect(stage_picture).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(stage_picture).to_be_visible()
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        page.locator(tile(dark)).scroll_into_view_if_needed(timeout=UI_WAIT_MS)
        expect(picture).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(picture).to_be_visible()
        assert errors == []
