from __future__ import annotations

import random
import threading
import time

from gateway.config import CameraConfig
from gateway.domain import CameraState, DropReason
from gateway.ingest.camera import FAILED_AFTER_ATTEMPTS, Camera
from tests.unit.ingest.conftest import ScriptedOpener, wait_until


def config(**overrides: object) -> CameraConfig:
    values: dict[str, object] = {
        "id": "cam",
        "url": "rtsp://user:secret@127.0.0.1:9/x",
        "reconnect_min_s": 0.01,
        "reconnect_max_s": 0.02,
        "read_timeout_s": 0.5,
    }
    values.update(overrides)
    return CameraConfig.model_validate(values)


def recording_camera(opener: ScriptedOpener, **overrides: object) -> tuple[Camera, list[CameraState]]:
    states: list[CameraState] = []
    camera = Camera(
        config(**overrides), opener, on_state=lambda _old, new: states.append(new), rng=random.Random(0)
    )
    return camera, states


def test_a_camera_that_cannot_open_is_failed_keeps_retrying_and_streams_once_it_can() -> None:
    opener = ScriptedOpener(failures=5)
    states: list[tuple[CameraState, str | None]] = []

    def record(_old: CameraState, new: CameraState) -> None:
        states.append((new, camera.last_error))

    camera = Camera(config(), opener, on_state=record, rng=random.Random(0))
    camera.start()
    try:
        # The state moves first and its listener is told after: wait for what the listener heard.
        assert wait_until(lambda: CameraState.STREAMING in [state for state, _ in states])
        assert [state for state, _ in states[:3]] == [
            CameraState.CONNECTING,
            CameraState.FAILED,
            CameraState.STREAMING,
        ]
        assert "refused" in (states[1][1] or "")
        assert camera.reconnects == 5
        # Its frames flow: the refusals are past, not its current error.
        assert states[2][1] is None
        assert camera.last_error is None
        assert camera.display_url == "rtsp://127.0.0.1:9/x"
    finally:
        assert camera.stop(2.0)
    assert states[-1][0] is CameraState.STOPPED


def test_a_lost_stream_reconnects_and_repeated_failures_report_failed() -> None:
    opener = ScriptedOpener(frames=20)
    camera, states = recording_camera(opener)
    camera.start()
    try:
        assert wait_until(lambda: len(opener.opened) >= 3)
        assert states[:4] == [
            CameraState.CONNECTING,
            CameraState.STREAMING,
            CameraState.RECONNECTING,
            CameraState.STREAMING,
        ]
        assert all(source.closed for source in opener.opened[:-1])
    finally:
        assert camera.stop(2.0)
    # Then: every source that was opened was closed, including the last.
    assert all(source.closed for source in opener.opened)

    failing = ScriptedOpener(frames=3, fail_from=1)  # the first open works, every later one fails
    camera, states = recording_camera(failing)
    camera.start()
    try:
        assert wait_until(lambda: CameraState.FAILED in states)
        assert states[:4] == [
            CameraState.CONNECTING,
            CameraState.STREAMING,
            CameraState.RECONNECTING,
            CameraState.FAILED,
        ]
        assert failing.attempts >= FAILED_AFTER_ATTEMPTS + 1
    finally:
        assert camera.stop(2.0)


def test_newest_frame_wins_and_untaken_frames_count_as_superseded() -> None:
    camera, _ = recording_camera(ScriptedOpener(interval_s=0.002))
    camera.start()
    try:
        assert wait_until(lambda: camera.frames_in >= 50)
        frame = camera.take_newest()
        assert frame is not None
        assert camera.take_newest() is None or camera.frames_in > frame.seq
        assert wait_until(lambda: camera.frames_in >= frame.seq + 10)
        newer = camera.take_newest()
        assert newer is not None
        assert newer.seq > frame.seq
        assert newer.camera_id == "cam"
    finally:
        assert camera.stop(2.0)
    superseded = camera.drops.snapshot()[DropReason.SUPERSEDED]
    assert superseded >= camera.frames_in - 3


def test_the_watchdog_marks_a_silent_stream_and_frames_bring_it_back() -> None:
    opener = ScriptedOpener(interval_s=0.005)
    camera, states = recording_camera(opener, read_timeout_s=0.2)
    camera.start()
    try:
        assert wait_until(lambda: camera.state is CameraState.STREAMING)
        assert not camera.check_stalled()
        source = opener.opened[0]
        source.interval_s = 0.6  # the stream goes quiet for longer than read_timeout_s
        assert wait_until(camera.check_stalled, 2.0)
        assert camera.state is CameraState.RECONNECTING
        assert camera.stalls == 1
        assert "stalled" in (camera.last_error or "")
        source.interval_s = 0.005
        assert wait_until(lambda: camera.state is CameraState.STREAMING, 2.0)
    finally:
        assert camera.stop(2.0)
    assert CameraState.RECONNECTING in states


def test_stop_ends_the_thread_even_while_backing_off() -> None:
    camera, _ = recording_camera(ScriptedOpener(failures=10**6), reconnect_min_s=5, reconnect_max_s=10)
    threads = threading.active_count()
    camera.start()
    assert wait_until(lambda: camera.state is CameraState.FAILED)
    assert camera.stop(1.0)
    assert threading.active_count() == threads
    assert camera.state is CameraState.STOPPED


def test_frames_long_before_the_next_sample_are_grabbed_but_not_converted() -> None:
    opener = ScriptedOpener(interval_s=0.002)
    camera, _ = recording_camera(opener)
    camera.start()
    try:
        assert wait_until(lambda: camera.frames_in >= 5)
        camera.expect_sample_at(time.monotonic() + 3600)
        converted = opener.opened[0].retrieved
        assert wait_until(lambda: camera.frames_in >= 60)
        newest = camera.peek_newest()
        # Then: frames keep arriving (and count as superseded) but none is converted to BGR...
        assert opener.opened[0].retrieved <= converted + 1
        camera.expect_sample_at(time.monotonic() + 0.05)
        # ...until the sampler's visit is near: then the newest frames are converted again.
        assert wait_until(
            lambda: camera.peek_newest() is not newest and opener.opened[0].retrieved > converted + 1
        )
        frame = camera.peek_newest()
        assert frame is not None
        assert frame.seq >= 60
    finally:
        assert camera.stop(2.0)
    assert camera.drops.snapshot()[DropReason.SUPERSEDED] >= 55
