"""Streams whose frames come further apart than the camera's timeouts allow: a timelapse file at
0.25 fps and a 1 fps RTSP stream (real H.264 from gst-rtsp-server). They are not hung cameras; the
camera must say what to change, once in the log and in its status and ``/v1/status``'s problems, and
the values it advises must make them stream without a stall."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.ingest.cameras import CameraPipeline
from tests.integration.ingest.conftest import OnnxDetector, wait_until
from tests.support import clips
from tests.support.rtsp_server import RtspServer

GRACE_S = 60.0
"""health.camera_down_after_s's default: a flapping camera is never down this long."""
SLOW_LOG = "camera stream too slow for its timeouts"


def camera(camera_id: str, url: str, **overrides: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {"id": camera_id, "url": url, "model": "bright", "motion": {"enabled": False}, **overrides}
    )


def status_error(pipeline: CameraPipeline, camera_id: str) -> str:
    status = pipeline.camera(camera_id)
    assert status is not None
    return status.last_error or ""


def slow_warnings(caplog: pytest.LogCaptureFixture, camera_id: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith(SLOW_LOG) and getattr(record, "camera", None) == camera_id
    ]


@pytest.fixture(scope="module")
def timelapse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MP4 at 0.25 fps: a frame every 4 s, longer than the default read_timeout_s (3 s)."""
    path = tmp_path_factory.mktemp("slow") / "timelapse.mp4"
    frames = clips.moving_clip(length=6)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 0.25, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def one_fps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    spec = clips.write_raw_i420(clips.moving_clip(length=10), tmp_path_factory.mktemp("slow") / "1fps.yuv", 1)
    with RtspServer({"onefps": spec}) as server:
        yield server


def test_a_timelapse_file_is_named_slow_with_the_fix_and_the_advised_timeout_streams(
    timelapse: Path, detector: OnnxDetector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ingest")
    # Given: the same 0.25 fps file at the default read_timeout_s (3 s) and at the advised one.
    slow, fixed = camera("slow", str(timelapse)), camera("fixed", str(timelapse), read_timeout_s=6)
    pipeline = CameraPipeline([slow, fixed], detector, lambda _f, _r: None, CollectorRegistry())
    pipeline.start()
    try:
        # When: it has run through two of its frame intervals.
        assert wait_until(lambda: min(pipeline.frames_in("slow"), pipeline.frames_in("fixed")) >= 3, 15)
        problems = pipeline.degraded(GRACE_S)
        expected = (
            "frames arrive every ~4.0 s, longer than read_timeout_s 3; "
            "raise cameras[].read_timeout_s to 6 or more"
        )
        # Then: /v1/status's problems name it at once (it is never down for camera_down_after_s)...
        assert f"camera slow: {expected}" in problems
        # ...its status says why it stalled and what to set...
        assert status_error(pipeline, "slow").endswith(f"; {expected}")
        assert status_error(pipeline, "slow").startswith("stalled: no frame for")
        # ...the log says so once, not at every stall...
        assert slow_warnings(caplog, "slow") == [f"{SLOW_LOG}: {expected}"]
        # ...and the advised read_timeout_s streams the same file without a stall or a problem.
        assert not [problem for problem in problems if problem.startswith("camera fixed")]
        assert status_error(pipeline, "fixed") == ""
        assert pipeline.frames_in("fixed") >= 3
        assert slow_warnings(caplog, "fixed") == []
        fixed_status = pipeline.camera("fixed")
        assert fixed_status is not None
        assert fixed_status.state is CameraState.STREAMING
    finally:
        assert pipeline.stop()


def test_a_one_fps_rtsp_stream_is_named_slow_and_the_advised_timeouts_stream_it(
    one_fps_server: RtspServer, detector: OnnxDetector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ingest")
    url = one_fps_server.url("onefps")
    # Given: a 1 fps stream with read_timeout_s 1.5, whose network read gives up after 0.5 s.
    slow = camera("slow", url, open_timeout_s=2.0, read_timeout_s=1.5, reconnect_min_s=0.2, reconnect_max_s=1)
    pipeline = CameraPipeline([slow], detector, lambda _f, _r: None, CollectorRegistry())
    pipeline.start()
    expected = (
        "frames arrive every ~1.0 s, longer than the 0.5 s a network stream's read waits with "
        "read_timeout_s 1.5 (a third of it); raise cameras[].read_timeout_s to 5 or more and "
        "open_timeout_s to 3 or more"
    )
    try:
        # Then: the camera names the problem and the fix, in its status and in /v1/status.
        assert wait_until(lambda: status_error(pipeline, "slow").endswith(f"; {expected}"), 15)
        assert f"camera slow: {expected}" in pipeline.degraded(GRACE_S)
        assert wait_until(lambda: slow_warnings(caplog, "slow") != [], 5)
    finally:
        assert pipeline.stop()
    assert slow_warnings(caplog, "slow") == [f"{SLOW_LOG}: {expected}"]

    # When: the camera runs with the advised timeouts.
    fixed = camera("fixed", url, open_timeout_s=3.0, read_timeout_s=5.0)
    pipeline = CameraPipeline([fixed], detector, lambda _f, _r: None, CollectorRegistry())
    pipeline.start()
    try:
        assert wait_until(lambda: pipeline.frames_in("fixed") >= 2, 15)
        started, frames = time.monotonic(), pipeline.frames_in("fixed")
        time.sleep(4.0)
        # Then: it streams at its own rate, with no stall, reconnect or problem.
        status = pipeline.camera("fixed")
        assert status is not None
        assert status.state is CameraState.STREAMING
        assert status.reconnects == 0
        assert status.last_error is None
        assert pipeline.frames_in("fixed") - frames >= int(time.monotonic() - started) - 1
        assert pipeline.degraded(GRACE_S) == []
        assert slow_warnings(caplog, "fixed") == []
    finally:
        assert pipeline.stop()
