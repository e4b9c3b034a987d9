"""A stream whose frames come too far apart for the camera's timeouts: told apart from a hung one, and
named with the values to set (``gateway/ingest/cadence.py``)."""

from __future__ import annotations

import logging
import random
from concurrent.futures import Future

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.domain import CameraState, Image
from gateway.errors import SourceError
from gateway.ingest import camera as camera_module
from gateway.ingest.cadence import FrameCadence
from gateway.ingest.camera import Camera
from gateway.ingest.cameras import CameraPipeline
from tests.unit.ingest.conftest import ScriptedOpener, wait_until

SLOW_LOG = "camera stream too slow for its timeouts"


def config(**overrides: object) -> CameraConfig:
    values: dict[str, object] = {
        "id": "cam",
        "url": "/cams/timelapse.mp4",
        "reconnect_min_s": 0.01,
        "reconnect_max_s": 0.02,
    }
    values.update(overrides)
    return CameraConfig.model_validate(values)


def cadence(nominal_fps: float | None, gaps: list[float], **overrides: object) -> FrameCadence:
    found = FrameCadence(config(**overrides))
    found.opened(nominal_fps)
    now = 100.0
    found.frame(now)
    for gap in gaps:
        now += gap
        found.frame(now)
    return found


@pytest.mark.parametrize(
    ("nominal_fps", "gaps", "overrides", "message"),
    [
        # A 0.25 fps file: only the watchdog's read_timeout_s applies to a file.
        (
            0.25,
            [],
            {},
            "frames arrive every ~4.0 s, longer than read_timeout_s 3; "
            "raise cameras[].read_timeout_s to 6 or more",
        ),
        # A 0.2 fps RTSP stream: its read gives up after a third of read_timeout_s, and its open
        # probes the first frames.
        (
            0.2,
            [],
            {"url": "rtsp://user:pw@10.0.0.5/timelapse"},
            "frames arrive every ~5.0 s, longer than the 1.0 s a network stream's read waits with "
            "read_timeout_s 3 (a third of it); raise cameras[].read_timeout_s to 23 or more and "
            "open_timeout_s to 13 or more",
        ),
        # Nothing reported, frames measured 2.5 s apart: near the bound, where jitter stalls it.
        (
            None,
            [2.5, 2.6, 2.5],
            {},
            "frames arrive every ~2.5 s, close to read_timeout_s 3; "
            "raise cameras[].read_timeout_s to 4 or more",
        ),
        # A VFR camera announcing 25 fps that sends a frame a second: what was measured wins.
        (
            25.0,
            [1.0, 1.0],
            {"url": "rtsp://10.0.0.5/motion"},
            "frames arrive every ~1.0 s, close to the 1.0 s a network stream's read waits with "
            "read_timeout_s 3 (a third of it); raise cameras[].read_timeout_s to 5 or more",
        ),
        # A GStreamer pipeline's read is not bounded by FFmpeg's: the watchdog's bound applies.
        (
            0.2,
            [],
            {"url": "rtsp://10.0.0.5/x", "decoder": "gstreamer", "gstreamer_pipeline": "x ! appsink"},
            "frames arrive every ~5.0 s, longer than read_timeout_s 3; "
            "raise cameras[].read_timeout_s to 8 or more",
        ),
    ],
)
def test_a_slow_stream_is_named_with_the_timeouts_it_needs(
    nominal_fps: float | None, gaps: list[float], overrides: dict[str, object], message: str
) -> None:
    slow = cadence(nominal_fps, gaps, **overrides).diagnose()
    assert slow is not None
    assert slow.message == message


@pytest.mark.parametrize(
    ("nominal_fps", "gaps"),
    [
        (25.0, [0.04, 0.04, 0.04]),  # a hung 25 fps camera is a hung camera
        (None, []),  # nothing known
        (None, [3.5]),  # one long gap is one hiccup, not a cadence
        (1.0, [1.0, 1.0]),  # 1 fps is well within read_timeout_s 3 of a file
    ],
)
def test_a_stream_that_is_not_slow_gets_no_diagnosis(nominal_fps: float | None, gaps: list[float]) -> None:
    assert cadence(nominal_fps, gaps).diagnose() is None


def test_the_silence_across_a_reopen_is_not_a_frame_interval() -> None:
    found = cadence(None, [0.04])
    found.opened(None)
    found.frame(200.0)
    found.frame(200.04)
    assert found.diagnose() is None


def test_a_camera_stalled_by_slow_frames_says_why_once_and_in_its_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ingest")
    # Given: a file camera whose source reports no frame rate and sends a frame every 0.3 s.
    opener = ScriptedOpener(interval_s=0.3)
    camera = Camera(config(read_timeout_s=0.2), opener, rng=random.Random(0))
    camera.start()
    try:
        # When: the watchdog finds it silent again and again.
        assert wait_until(lambda: camera.check_stalled() and camera.stalls >= 4, 5.0)
    finally:
        assert camera.stop(2.0)
    # Then: once the intervals were measured, each stall says why, and the log says it once.
    message = camera.slow_stream()
    assert message is not None
    assert message[0].startswith("frames arrive every ~0.3 s, longer than read_timeout_s 0.2; ")
    assert (camera.last_error or "").endswith(message[0])
    warnings = [record for record in caplog.records if record.getMessage().startswith(SLOW_LOG)]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert getattr(warnings[0], "camera", None) == "cam"


class SilentAfterOpen:
    """An opened stream that announces 0.2 fps and has no frame within the read timeout."""

    nominal_fps = 0.2

    def __init__(self) -> None:
        self.closed = False

    def grab(self) -> None:
        raise SourceError("rtsp://10.0.0.5/timelapse: stream ended or stalled (no frame)")

    def retrieve(self) -> Image:
        raise SourceError("nothing grabbed")

    def read(self) -> Image:
        self.grab()
        return self.retrieve()

    def close(self) -> None:
        self.closed = True


def test_a_stream_that_opens_but_is_too_slow_for_its_first_read_says_why() -> None:
    sources: list[SilentAfterOpen] = []

    def open_source() -> SilentAfterOpen:
        sources.append(SilentAfterOpen())
        return sources[-1]

    camera = Camera(config(url="rtsp://user:pw@10.0.0.5/timelapse"), open_source, rng=random.Random(0))
    camera.start()
    try:
        assert wait_until(lambda: camera.state is CameraState.FAILED and len(sources) >= 2)
    finally:
        assert camera.stop(2.0)
    assert all(source.closed for source in sources)
    assert camera.last_error == (
        "rtsp://10.0.0.5/timelapse: stream ended or stalled (no frame); frames arrive every ~5.0 s, "
        "longer than the 1.0 s a network stream's read waits with read_timeout_s 3 (a third of it); "
        "raise cameras[].read_timeout_s to 23 or more and open_timeout_s to 13 or more"
    )


def test_a_hung_fast_stream_gets_no_slow_stream_diagnosis() -> None:
    opener = ScriptedOpener(interval_s=0.005)
    camera = Camera(config(read_timeout_s=0.2), opener, rng=random.Random(0))
    camera.start()
    try:
        assert wait_until(lambda: camera.state is CameraState.STREAMING and camera.frames_in > 10)
        opener.opened[0].interval_s = 0.6
        errors: list[str | None] = []

        def stalled() -> bool:
            # The stall's error, read at once: the next frame (0.6 s apart) makes it past.
            if not camera.check_stalled():
                return False
            errors.append(camera.last_error)
            return True

        assert wait_until(stalled, 2.0)
    finally:
        assert camera.stop(2.0)
    assert camera.slow_stream() is None
    assert (errors[0] or "").startswith("stalled: no frame for")
    assert "frames arrive" not in (errors[0] or "")


def test_a_slow_stream_is_a_problem_in_v1_status_at_once_and_only_while_it_keeps_stalling() -> None:
    # Given: a camera flapping between streaming and stalled (a frame every 0.3 s, read_timeout_s 0.2).
    slow = config(read_timeout_s=0.2, motion={"enabled": False})
    pipeline = CameraPipeline(
        [slow],
        lambda _model, _frame, _deadline: Future(),
        lambda _frame, _result: None,
        CollectorRegistry(),
        open_source=lambda _config: ScriptedOpener(interval_s=0.3),
    )
    pipeline.start()
    try:
        # Then: it is never down for camera_down_after_s, yet /v1/status names it with the fix...
        def named() -> bool:
            return any(
                problem.startswith("camera cam: frames arrive every ~0.3 s")
                for problem in pipeline.degraded(60.0)
            )

        assert wait_until(named, 5.0)
        (problem,) = pipeline.degraded(60.0)
        assert problem.endswith("raise cameras[].read_timeout_s to 1 or more")
        # ...for as long as it stalled within the grace: an old stall is no problem any more.
        assert not any(problem.startswith("camera cam: frames") for problem in pipeline.degraded(0.0))
    finally:
        assert pipeline.stop(2.0)


def test_a_stream_slowed_for_a_while_is_no_longer_named_slow_once_it_stops_stalling(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: a stream slowed to a frame every 0.8 s (a lossy network letting only key frames
    # through), read_timeout_s 0.5: diagnosed too slow for its timeouts, which were right
    monkeypatch.setattr(camera_module, "SLOW_FORGOTTEN_S", 2.0)
    caplog.set_level(logging.INFO, logger="gateway.ingest")
    opener = ScriptedOpener(interval_s=0.8)
    camera = Camera(config(read_timeout_s=0.5), opener, rng=random.Random(0))
    camera.start()
    try:
        assert wait_until(lambda: camera.check_stalled() and camera.slow_stream() is not None, 15.0)
        # When: its frames come at their rate again
        for source in opener.opened:
            source.interval_s = 0.005

        def streaming_and_said() -> bool:
            camera.check_stalled()
            return camera.state is CameraState.STREAMING and camera.last_error is not None

        assert wait_until(streaming_and_said, 5.0)
        assert "frames arrive every" in (camera.last_error or "")
        # Then: once it has not stalled for SLOW_FORGOTTEN_S, neither its status nor its error says so
        assert wait_until(lambda: not camera.check_stalled() and camera.slow_stream() is None, 15.0)
        assert camera.last_error is None
    finally:
        assert camera.stop(2.0)
    assert any(
        record.getMessage().startswith("camera stream no longer too slow for its timeouts")
        for record in caplog.records
    )
