"""A snapshot tile whose request stalls, in the real browser against the real app: a gateway with more
cameras than live tiles shows each as a snapshot renewed with the page's refresh, one request a tile
at a time. A request that never answered (held here by the browser's own routing, as a network that
drops it without a word would) kept its tile from ever being asked for again: the picture stayed as
it was for as long as the page was open. Now a snapshot on its way for 10 s is asked for again."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Browser, Route, expect

from gateway.domain import CameraStatus
from tests.support.console_app import console_app
from tests.unit.api.fakes import FakeCameras

CAMERAS = [f"camera-{number}" for number in range(5)]  # one more than the live tiles
CONFIG = f"cameras:\n  - id: {CAMERAS[0]}\n    url: rtsp://10.0.0.5/stream1\n"
UI_WAIT_MS = 15_000
STALL_WAIT_MS = 30_000
"""The console's SNAPSHOT_STALL_MS (10 s) with room to spare on a busy machine."""


class FiveCameras(FakeCameras):
    def __init__(self) -> None:
        super().__init__()
        encoded, data = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
        assert encoded
        self.jpeg = data.tobytes()
        self.statuses = {
            camera_id: dataclasses.replace(self.status, camera_id=camera_id) for camera_id in CAMERAS
        }

    def cameras(self) -> Sequence[CameraStatus]:
        return list(self.statuses.values())

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self.statuses.get(camera_id)

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        return self.jpeg if camera_id in self.statuses else None


def test_a_snapshot_that_never_answers_is_asked_for_again(tmp_path: Path, browser: Browser) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    stalled = CAMERAS[-1]
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        # Given the first snapshot request of the last camera held without an answer,
        if not held:
            held.append(route)
            return
        route.continue_()

    with console_app(FiveCameras(), tmp_path / "gateway.yaml") as served:
        page = browser.new_page(viewport={"width": 1280, "height": 2400})  # every tile on screen
        page.route(f"**/v1/cameras/{stalled}/snapshot.jpg*", hold_the_first)
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        tiles = page.locator("article.tile img")
        expect(tiles).to_have_count(len(CAMERAS), timeout=UI_WAIT_MS)
        expect(page.locator(f'article[data-camera="{CAMERAS[0]}"] img')).to_have_js_property(
            "naturalWidth", 160, timeout=UI_WAIT_MS
        )
        # its tile is asked for again, and shows the camera's picture.
        expect(page.locator(f'article[data-camera="{stalled}"] img')).to_have_js_property(
            "naturalWidth", 160, timeout=STALL_WAIT_MS
        )
        assert len(held) == 1
