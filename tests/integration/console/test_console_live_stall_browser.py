"""A live view that stalls, in the real browser against the real app: its connection stays open and
nothing more comes (here the gateway's encoder is held, as a stuck network or proxy would hold the
bytes). The picture froze on its last frame and looked live, the numbers beside it still saying
"streaming", for as long as the page stayed open. Now the picture says it has stalled, the view is
asked for again, and the note goes with the next frame. The camera directory is the hand-written
fake of the console tests, its JPEG made by OpenCV."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera
from tests.support.console_pages import UI_WAIT_MS, camera_config, console_page, gray_jpeg, live_picture

CAMERA = "gate"
CONFIG = camera_config(CAMERA, {})
STALL_WAIT_MS = 30_000
"""The console's STALL_MS (10 s) with room to spare on a busy machine."""


class HeldCamera(OneCamera):
    """A camera whose live view frames are held while ``flowing`` is clear: the encoder waits, so the
    gateway writes nothing on the open connection."""

    def __init__(self, jpeg: bytes) -> None:
        super().__init__(CAMERA, CameraState.STREAMING, jpeg)
        self.flowing = threading.Event()
        self.flowing.set()

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        self.flowing.wait()
        return super().snapshot_jpeg(camera_id)


@pytest.fixture
def camera() -> Iterator[HeldCamera]:
    held = HeldCamera(gray_jpeg(160, 90))
    try:
        yield held
    finally:
        held.flowing.set()  # the encoder's thread is let go whatever the test did


@pytest.mark.parametrize(
    ("hash_", "frame"), [("#/cameras", "article.tile"), (f"#/camera/{CAMERA}", ".stage")]
)
def test_a_stalled_live_view_says_so_and_is_asked_for_again(
    tmp_path: Path, browser: Browser, camera: HeldCamera, hash_: str, frame: str
) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    with console_page(browser, camera, tmp_path / "gateway.yaml", hash_) as page:
        picture, note = live_picture(page, frame, 160)
        # Given a live view whose connection stays open with nothing more coming,
        camera.flowing.clear()
        # the last picture says the view stalled, over the picture itself, while the camera streams;
        expect(note).to_be_visible(timeout=STALL_WAIT_MS)
        expect(note).to_contain_text("no new picture for 10 s")
        expect(picture).to_be_visible()
        # and once frames come again (on the view asked for again), the note goes.
        camera.flowing.set()
        expect(note).to_be_hidden(timeout=UI_WAIT_MS)
