"""Sources other than RTSP: an HTTP MJPEG camera, looped files, and the GStreamer backend check."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.errors import SourceError
from gateway.ingest.cameras import CameraPipeline
from gateway.ingest.sources import OpenCvSource, gstreamer_available
from tests.integration.ingest.conftest import OnnxDetector, wait_until
from tests.integration.ingest.mjpeg_server import MjpegServer
from tests.support import clips


@pytest.fixture
def mjpeg_server() -> Iterator[MjpegServer]:
    server = MjpegServer()
    yield server
    server.close()


def test_an_http_mjpeg_camera_streams_through_the_pipeline(
    mjpeg_server: MjpegServer, detector: OnnxDetector
) -> None:
    config = CameraConfig.model_validate(
        {
            "id": "mjpeg",
            "url": mjpeg_server.url(credentials="viewer:hunter2"),
            "model": "bright",
            "detect_fps": 5,
            "motion": {"enabled": False},
        }
    )
    pipeline = CameraPipeline([config], detector, lambda _f, _r: None, CollectorRegistry())
    pipeline.start()
    try:
        assert wait_until(lambda: pipeline.processed("mjpeg") >= 5, 10)
        status = pipeline.camera("mjpeg")
        assert status is not None
        assert status.state is CameraState.STREAMING
        assert "hunter2" not in status.url
    finally:
        assert pipeline.stop()


def test_a_wrong_http_path_is_a_clear_error(mjpeg_server: MjpegServer) -> None:
    with pytest.raises(SourceError, match="did not open") as caught:
        OpenCvSource(mjpeg_server.url("/nope"), open_timeout_s=2, read_timeout_s=1)
    assert "hunter2" not in str(caught.value)


def test_a_file_loops_at_its_own_frame_rate(tmp_path: Path) -> None:
    path = clips.write_mp4(clips.event_clip(length=10, event=range(5, 10)), tmp_path / "short.mp4")
    source = OpenCvSource(str(path), open_timeout_s=2, read_timeout_s=1)
    try:
        started = time.monotonic()
        events = [clips.is_event_frame(source.read()) for _ in range(25)]
        elapsed = time.monotonic() - started
    finally:
        source.close()
    # Then: 25 reads of a 10-frame clip wrap around twice, in order, paced at 25 fps.
    assert events == [index % 10 >= 5 for index in range(25)]
    assert elapsed == pytest.approx(24 / clips.FPS, abs=0.2)


def test_a_missing_file_or_an_unreadable_one_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        OpenCvSource(str(tmp_path / "absent.mp4"), open_timeout_s=1, read_timeout_s=1)
    # A directory or a device exists: "no such file" would send the operator looking for a typo.
    with pytest.raises(SourceError, match="is a directory, not a video file"):
        OpenCvSource(str(tmp_path), open_timeout_s=1, read_timeout_s=1)
    with pytest.raises(SourceError, match="is not a regular file"):
        OpenCvSource("/dev/null", open_timeout_s=1, read_timeout_s=1)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(SourceError, match="not a readable video"):
        OpenCvSource(f"file://{garbage}", open_timeout_s=1, read_timeout_s=1)


def test_the_gstreamer_decoder_says_clearly_when_opencv_lacks_it() -> None:
    build_says = "GStreamer:                   YES" in cv2.getBuildInformation()
    assert gstreamer_available() == build_says
    if gstreamer_available():  # JetPack's OpenCV: the backend must really decode
        source = OpenCvSource(
            "unused",
            open_timeout_s=2,
            read_timeout_s=1,
            decoder="gstreamer",
            gstreamer_pipeline=(
                "videotestsrc num-buffers=50 ! video/x-raw,width=64,height=48 ! videoconvert ! appsink"
            ),
        )
        try:
            assert source.read().shape == (48, 64, 3)
        finally:
            source.close()
        return
    with pytest.raises(SourceError, match="no GStreamer backend"):
        OpenCvSource(
            "rtsp://127.0.0.1:9/x",
            open_timeout_s=1,
            read_timeout_s=1,
            decoder="gstreamer",
            gstreamer_pipeline="rtspsrc location={url} ! decodebin ! videoconvert ! appsink",
        )
