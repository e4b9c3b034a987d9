"""How near each camera's scene is to motion, read from a real ``serve`` over HTTP and on the cameras
page in the real browser: the share of the newest sampled frame that changed beside the camera's
``min_area``, or that gating is off. The only sign of gating was the count of frames it dropped,
which says nothing of how far under (or over) the threshold a scene sits while one tunes
``min_area`` or draws a mask. And where it changed: outlined on a snapshot or the live view asked
for with ``motion``, the camera page's Show motion."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
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


def magenta_pixels(jpeg: bytes) -> int:
    picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    blue, green, red = picture[..., 0].astype(int), picture[..., 1].astype(int), picture[..., 2].astype(int)
    return int(((blue > 150) & (red > 150) & (green < 100)).sum())


def snapshot(base: str, camera_id: str, query: str = "") -> bytes:
    with urllib.request.urlopen(f"{base}/v1/cameras/{camera_id}/snapshot.jpg{query}", timeout=10) as response:
        return bytes(response.read())


def test_a_snapshot_asked_with_motion_outlines_where_the_gate_saw_change(base: str) -> None:
    # Given the moving square, its change is outlined on some frame (the background takes it in
    # within a second of its stopping), never on the plain picture,
    deadline = time.monotonic() + 20
    while magenta_pixels(snapshot(base, "moving", "?motion=1")) < 50:
        assert time.monotonic() < deadline, "no change outlined on the moving camera"
        time.sleep(0.1)
    assert magenta_pixels(snapshot(base, "moving")) == 0
    # and nothing on the still scene, or where gating is off.
    assert magenta_pixels(snapshot(base, "still", "?motion=1")) == 0
    assert magenta_pixels(snapshot(base, "ungated", "?motion=true")) == 0
    with pytest.raises(urllib.error.HTTPError) as refused:
        snapshot(base, "moving", "?motion=yes")
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"] == "motion must be 1 or 0 (true or false), got 'yes'"


MAGENTA_IN_PICTURE = """image => {
  if (!image.complete || !image.naturalWidth) return 0; // no picture yet, or the next on its way
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let at = 0; at < pixels.length; at += 4) {
    if (pixels[at] > 150 && pixels[at + 1] < 100 && pixels[at + 2] > 150) count += 1;
  }
  return count;
}"""


def test_show_motion_on_the_camera_page_outlines_it_on_the_live_view(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(base + "/#/camera/moving")
        picture = page.get_by_role("img", name="Live view of camera moving", exact=False)
        button = page.get_by_role("button", name="Show motion")
        expect(button).to_have_attribute("aria-pressed", "false", timeout=UI_WAIT_MS)
        # Given Show motion pressed, the view with motion outlined is asked for and said what it shows,
        with page.expect_request(re.compile(r"/stream\.mjpeg\?motion=1&longest_side=\d+$")):
            button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_text("Outlined in magenta: what changed")).to_be_visible()
        # and the moving square's change comes outlined on the live picture;
        deadline = time.monotonic() + 20
        while picture.evaluate(MAGENTA_IN_PICTURE) < 50:
            assert time.monotonic() < deadline, "no change outlined on the live view"
            page.wait_for_timeout(100)
        # pressed again, the plain view is back, and the note gone.
        with page.expect_request(re.compile(r"/stream\.mjpeg\?longest_side=\d+$")):
            button.click()
        expect(page.get_by_text("Outlined in magenta: what changed")).to_be_hidden()
        page.goto(base + "/#/camera/ungated")
        page.get_by_role("button", name="Show motion").click()
        expect(
            page.get_by_text("Motion gating is off for this camera (motion: enabled: false): every")
        ).to_be_visible(timeout=UI_WAIT_MS)
    finally:
        page.close()
