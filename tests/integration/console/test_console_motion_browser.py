"""How near each camera's scene is to motion, read from a real ``serve`` over HTTP and on the cameras
page in the real browser: the share of the newest sampled frame that changed beside the camera's
``min_area``, or that gating is off. The only sign of gating was the count of frames it dropped,
which says nothing of how far under (or over) the threshold a scene sits while one tunes
``min_area`` or draws a mask."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.support.clips import moving_clip, static_clip, write_mp4
from tests.support.serve import serve_cameras

UI_WAIT_MS = 15_000


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("motion")
    moving = write_mp4(moving_clip(length=50), directory / "moving.mp4")
    still = write_mp4(static_clip(length=50), directory / "still.mp4")
    camera = {"detect_fps": 5, "model": "face-detector"}
    cameras = [
        {"id": "moving", "url": str(moving), **camera, "motion": {"min_area": 0.004}},
        {"id": "still", "url": str(still), **camera},
        {"id": "ungated", "url": str(still), **camera, "motion": {"enabled": False}},
    ]
    process = serve_cameras(directory, "motion", cameras)
    try:
        yield f"http://127.0.0.1:{process.api_port()}"
    finally:
        process.kill()


def cameras(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "/v1/cameras", timeout=10) as response:
        return {camera["id"]: camera["motion"] for camera in json.loads(response.read())["cameras"]}


def test_each_camera_says_how_much_of_its_frame_changed_against_min_area(base: str) -> None:
    deadline = time.monotonic() + 20
    while any(motion is not None and motion["changed"] is None for motion in cameras(base).values()):
        assert time.monotonic() < deadline, cameras(base)
        time.sleep(0.2)
    motion = cameras(base)
    # The moving square changes some 6% of the frame (before the background takes it in); the
    # still scene next to nothing, its codec's noise under the threshold.
    assert 0.004 <= motion["moving"]["changed"] <= 0.3, motion
    assert motion["moving"]["min_area"] == 0.004
    assert motion["still"] == {"changed": pytest.approx(0.0, abs=0.002), "min_area": 0.002}
    assert motion["ungated"] is None


def test_the_cameras_page_shows_it_beside_each_tile(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(base + "/#/cameras")
        tiles = page.locator("article.tile")
        expect(tiles).to_have_count(3, timeout=UI_WAIT_MS)
        changed = re.compile(r"\d+\.\d\d% changed, motion from ")
        expect(tiles.filter(has_text="moving")).to_contain_text(changed, timeout=UI_WAIT_MS)
        expect(tiles.filter(has_text="moving")).to_contain_text("motion from 0.40%")
        expect(tiles.filter(has_text="still").first).to_contain_text("motion from 0.20%", timeout=UI_WAIT_MS)
        expect(tiles.filter(has_text="ungated")).to_contain_text("gating off", timeout=UI_WAIT_MS)
    finally:
        page.close()
