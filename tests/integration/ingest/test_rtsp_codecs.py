"""RTSP streams beyond plain H.264, from the real GStreamer server through the real OpenCV source and
camera reader: H.265, RTP/JPEG, video with an audio track beside it, audio with no video, and a
camera that stalls after a few frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.errors import SourceError
from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.conftest import wait_until
from tests.support import clips
from tests.support.rtsp_server import RtspServer

MOUNTS = ("hevc-pattern", "mjpeg-pattern", "audio-video", "audio-only")


@pytest.fixture(scope="module")
def codec_server() -> Iterator[RtspServer]:
    with RtspServer({mount: mount for mount in MOUNTS}) as server:
        yield server


@pytest.mark.parametrize("mount", ["hevc-pattern", "mjpeg-pattern", "audio-video"])
def test_a_camera_streams_the_video_of_each_kind_of_rtsp_stream(codec_server: RtspServer, mount: str) -> None:
    config = CameraConfig.model_validate(
        {"id": "odd", "url": codec_server.url(mount), "reconnect_min_s": 0.1}
    )
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        # When: the camera has read a second of the stream.
        streamed = wait_until(lambda: camera.frames_in >= 25, 10)
        frame = camera.peek_newest()
    finally:
        assert camera.stop()
    # Then: its frames arrive at their size, with no reconnect and no error on the way (an audio track
    # beside the video once left every frame unconvertible: "could not decode the frame").
    assert streamed, camera.last_error
    assert frame is not None
    assert frame.image.shape == (240, 320, 3)
    assert camera.reconnects == 0
    assert camera.last_error is None


def test_an_rtsp_stream_of_audio_alone_says_it_has_no_video(codec_server: RtspServer) -> None:
    with pytest.raises(SourceError) as caught:
        OpenCvSource(codec_server.url("audio-only"), open_timeout_s=3, read_timeout_s=1)
    assert "the stream has no video, only audio: the server answered 'RTSP/1.0 200 OK'" in str(caught.value)


def test_a_camera_on_an_audio_stream_fails_naming_it_and_keeps_retrying(codec_server: RtspServer) -> None:
    config = CameraConfig.model_validate(
        {"id": "mic", "url": codec_server.url("audio-only"), "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}
    )
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        assert wait_until(lambda: camera.reconnects >= 2, 10)
        assert camera.reader_alive
        assert camera.state is CameraState.FAILED
    finally:
        assert camera.stop()
    assert "no video" in (camera.last_error or "")


def test_a_camera_that_sends_a_few_frames_then_stalls_is_reopened_each_time(tmp_path: Path) -> None:
    spec = clips.write_raw_i420(clips.moving_clip(length=3), tmp_path / "three.yuv") + ":once"
    with RtspServer({"once": spec}) as server:
        config = CameraConfig.model_validate(
            {
                "id": "stalls",
                "url": server.url("once"),
                "read_timeout_s": 1.5,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 0.3,
            }
        )
        camera = Camera(config, source_factory(config))
        camera.start()
        try:
            # When: the stream has stalled twice (its session stays open, no frame comes).
            assert wait_until(lambda: camera.reconnects >= 2, 20), camera.last_error
            error = camera.last_error
            # Then: the reader lives on and the next session's frames arrive.
            frames = camera.frames_in
            assert wait_until(lambda: camera.frames_in > frames, 20)
            assert camera.reader_alive
        finally:
            assert camera.stop()
    assert error is not None
    assert "stream ended or stalled (no frame)" in error
