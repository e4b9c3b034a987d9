"""A camera's ``last_error`` once its frames flow again, for every kind of source, each real: the
project's RTSP server dropping its clients, a loopback MJPEG camera closing its stream, a video file
and an image-sequence folder taken away and put back (made with the real ffmpeg)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.ingest.camera import Camera
from gateway.ingest.sources import source_factory
from tests.integration.ingest.conftest import wait_until
from tests.integration.ingest.mjpeg_server import MjpegServer
from tests.support.rtsp_server import RtspServer

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


@dataclass(frozen=True)
class Breakable:
    """A source's URL, what makes it fail while it plays, and what puts it right again."""

    url: str
    break_it: Callable[[], None]
    mend: Callable[[], None]


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *arguments], check=True, timeout=60)


def nothing() -> None:
    pass


@pytest.fixture(params=["rtsp", "http", "file", "sequence"])
def breakable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Breakable]:
    kind: str = request.param
    if kind == "rtsp":
        with RtspServer({"pattern": "pattern"}) as server:
            yield Breakable(server.url("pattern"), server.drop_clients, nothing)
    elif kind == "http":
        mjpeg = MjpegServer()
        try:
            yield Breakable(mjpeg.url(), mjpeg.cut, nothing)
        finally:
            mjpeg.close()
    else:
        # A short clip (ten frames at 25 fps) loops, and looks at its file again, every 0.4 s.
        lavfi = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25,trim=end_frame=10"]
        if kind == "file":
            played, away = tmp_path / "clip.mp4", tmp_path / "elsewhere.mp4"
            ffmpeg(*lavfi, "-c:v", "libx264", str(played))
            url = played.as_uri()
        else:
            played, away = tmp_path / "stills", tmp_path / "elsewhere"
            played.mkdir()
            ffmpeg(*lavfi, str(played / "img%03d.png"))
            url = str(played / "img%03d.png")

        def take_away() -> None:
            played.rename(away)

        def put_back() -> None:
            away.rename(played)

        yield Breakable(url, take_away, put_back)


def test_a_camera_whose_frames_flow_again_has_no_error_left(breakable: Breakable) -> None:
    config = CameraConfig.model_validate(
        {"id": "cam", "url": breakable.url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    )
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        assert wait_until(lambda: camera.state is CameraState.STREAMING, 10), camera.last_error
        # Given: the source fails while it plays, and the camera says why.
        breakable.break_it()
        assert wait_until(lambda: camera.last_error is not None, 10)
        error = camera.last_error
        # When: it is put right and frames flow again.
        breakable.mend()
        frames = camera.frames_in
        assert wait_until(
            lambda: camera.state is CameraState.STREAMING and camera.frames_in > frames + 5, 15
        ), camera.last_error
        # Then: the error is past; it stayed in /v1/cameras and the console as if it still held.
        assert camera.last_error is None, error
        assert camera.reconnects >= 1
    finally:
        assert camera.stop()
