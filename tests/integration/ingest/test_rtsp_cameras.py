"""Cameras against a real RTSP server on loopback serving real H.264 (gst-rtsp-server)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway.config import CameraConfig
from gateway.domain import CameraState, CameraStatus, DropReason, Frame, FrameResult, Image
from gateway.ingest.camera import Camera
from gateway.ingest.cameras import CameraPipeline
from gateway.ingest.sources import FrameSource, SourceFactory, source_factory
from tests.integration.ingest.conftest import CLIP_LENGTH, EVENT_RANGE, OnnxDetector, open_fds, wait_until
from tests.support import clips
from tests.support.rtsp_server import RtspServer

FAST: dict[str, Any] = {
    "open_timeout_s": 2.0,
    "read_timeout_s": 1.5,
    "reconnect_min_s": 0.2,
    "reconnect_max_s": 1.0,
    "motion": {"enabled": False},
}
MAX_IN_FLIGHT = 2
FPS_IN_WINDOW_S = 5.0
"""The window a camera's fps_in is measured over (``RateMeter``'s)."""
NUMBER_BITS = 8
NUMBER_HEIGHT = 32
"""Rows at the top of a numbered frame that hold its number (the event square is further down)."""


def camera_config(camera_id: str, url: str, **overrides: Any) -> CameraConfig:
    return CameraConfig.model_validate({"id": camera_id, "url": url, "model": "bright", **FAST, **overrides})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Results:
    def __init__(self) -> None:
        self.items: list[tuple[Frame, FrameResult]] = []
        self._lock = threading.Lock()

    def __call__(self, frame: Frame, result: FrameResult) -> None:
        with self._lock:
            self.items.append((frame, result))

    def count(self, camera_id: str) -> int:
        with self._lock:
            return sum(1 for frame, _ in self.items if frame.camera_id == camera_id)


def test_several_cameras_stream_and_are_processed_at_detect_fps(
    rtsp_server: RtspServer, detector: OnnxDetector
) -> None:
    configs = [
        camera_config("one", rtsp_server.url("pattern"), detect_fps=5),
        camera_config("two", rtsp_server.url("pattern2"), detect_fps=5),
        camera_config("three", rtsp_server.url("event"), detect_fps=5),
    ]
    results = Results()
    registry = CollectorRegistry()
    pipeline = CameraPipeline(configs, detector, results, registry, max_in_flight=MAX_IN_FLIGHT)
    pipeline.start()
    try:
        assert wait_until(lambda: all(s.state is CameraState.STREAMING for s in pipeline.cameras()), 10)
        started = time.monotonic()
        counts = {config.id: results.count(config.id) for config in configs}
        # fps_in is then measured over frames of this window alone, none from the opening.
        time.sleep(FPS_IN_WINDOW_S)
        processed = {config.id: results.count(config.id) - counts[config.id] for config in configs}
        elapsed = time.monotonic() - started
        for config in configs:
            status = pipeline.camera(config.id)
            assert status is not None
            # Then: each camera is decoded at its own 25 fps. A busy machine delays frames and
            # decodes them in a burst later, which moves a 5 s rate by 5 fps per second of delay
            # (about 0.6 s was seen); a camera counting only the frames it converts for the sampler
            # reads about 9 fps, one counting every frame twice 50.
            assert 15 <= status.fps_in <= 35, status
            # ...and processed at its detect_fps: never more, however busy the machine (the
            # sampler's visits fall due at least an interval apart, so a window holds at most
            # detect_fps x its length + 2 of them, plus the frames in flight when it opened), and,
            # loosely, at least half as many (a busy machine makes it miss some visits).
            most = config.detect_fps * elapsed + 2 + MAX_IN_FLIGHT
            assert config.detect_fps * elapsed / 2 <= processed[config.id] <= most, (config.id, processed)
            assert status.drops.get(DropReason.SUPERSEDED, 0) > 0
        metrics = generate_latest(registry).decode()
        assert 'edge_gateway_camera_frames_total{camera="one"}' in metrics
        assert 'edge_gateway_camera_state{camera="two",state="streaming"} 1.0' in metrics
        snapshot = pipeline.snapshot_jpeg("three")
        assert snapshot is not None
        assert snapshot[:2] == b"\xff\xd8"
    finally:
        assert pipeline.stop()


def numbered(frames: Sequence[Image]) -> list[Image]:
    """``frames``, each with its index written in binary along its top edge, a block per bit (white
    for 1, black for 0): flat blocks that H.264 keeps, so each decoded picture tells which it is."""
    assert len(frames) < 2**NUMBER_BITS
    stamped = []
    for index, frame in enumerate(frames):
        copy = frame.copy()
        block_width = copy.shape[1] // NUMBER_BITS
        for bit in range(NUMBER_BITS):
            value = 255 if index >> bit & 1 else 0
            copy[:NUMBER_HEIGHT, bit * block_width : (bit + 1) * block_width] = value
        stamped.append(copy)
    return stamped


def frame_number(image: Image) -> int:
    """The index ``numbered`` wrote into ``image``, read from each block's middle (codec noise and
    blur stay at the block edges)."""
    block_width = image.shape[1] // NUMBER_BITS
    inset = 8
    number = 0
    for bit in range(NUMBER_BITS):
        block = image[
            inset : NUMBER_HEIGHT - inset, bit * block_width + inset : (bit + 1) * block_width - inset
        ]
        if float(block.mean()) > 127:
            number |= 1 << bit
    return number


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float
    """When the reader retrieved the frame (monotonic)."""
    number: int
    """Its index in the clip, read from the picture."""
    event: bool
    """Whether it shows the event."""


class RecordingSource:
    """The real source, recording each frame the reader retrieves."""

    def __init__(self, inner: FrameSource, log: list[Arrival]) -> None:
        self._inner = inner
        self._log = log

    def grab(self) -> None:
        self._inner.grab()

    def retrieve(self) -> Image:
        image = self._inner.retrieve()
        self._log.append(Arrival(time.monotonic(), frame_number(image), clips.is_event_frame(image)))
        return image

    def read(self) -> Image:
        self.grab()
        return self.retrieve()

    def close(self) -> None:
        self._inner.close()


def test_scripted_clip_arrives_with_the_right_frames_at_the_right_time(tmp_path: Path) -> None:
    # Given: the event clip three times over, each frame numbered. The server stamps frame n at
    # n / 25 s, so a frame's number is its place in the stream's time, read from the picture: a busy
    # machine can delay a frame but cannot change that.
    clip = numbered(clips.event_clip(length=CLIP_LENGTH, event=EVENT_RANGE) * 3)
    spec = clips.write_raw_i420(clip, tmp_path / "numbered.yuv")
    wanted = 2 * CLIP_LENGTH + 10
    log: list[Arrival] = []
    with RtspServer({"numbered": spec}) as server:
        config = camera_config("event", server.url("numbered"))
        real = source_factory(config)

        def recording() -> FrameSource:
            return RecordingSource(real(), log)

        camera = Camera(config, recording)
        camera.start()
        try:
            assert wait_until(lambda: len(log) >= wanted, 15, 0.05)
        finally:
            assert camera.stop()
    arrivals = log[:wanted]
    # Then: frame n of the stream is frame n of the clip (nothing lost, duplicated or reordered), so
    # every frame sits at its own place in the stream's time...
    assert [arrival.number for arrival in arrivals] == list(range(wanted))
    # ...and shows what the clip has there: the event starts 2.0 s of stream time after the last one.
    assert [arrival.event for arrival in arrivals] == [
        number % CLIP_LENGTH in EVENT_RANGE for number in range(wanted)
    ]
    # And the reader keeps pace with the live stream. Each frame arrives some delay after its place
    # in the stream's time; a busy machine lets frames pile up and drains them (about 0.6 s seen on
    # a loaded 2-core machine), while a reader slower than the stream falls further behind with every
    # frame, without bound (at half pace, 4.4 s over these 110 frames; at three quarters, 1.5 s).
    delays = [arrival.at - arrival.number / clips.FPS for arrival in arrivals]
    assert max(delays) - min(delays) < 1.5, (min(delays), max(delays))


def test_server_dropping_all_clients_leads_to_a_reconnect(rtsp_server: RtspServer) -> None:
    config = camera_config("drop", rtsp_server.url("pattern"))
    states: list[CameraState] = []
    camera = Camera(config, source_factory(config), on_state=lambda _old, new: states.append(new))
    camera.start()
    try:
        assert wait_until(lambda: camera.state is CameraState.STREAMING, 10)
        frames_before = camera.frames_in
        rtsp_server.drop_clients()
        assert wait_until(lambda: CameraState.RECONNECTING in states, 20)
        assert wait_until(
            lambda: camera.state is CameraState.STREAMING and camera.frames_in > frames_before + 25, 20
        )
        assert camera.reconnects >= 1
        assert camera.last_error is None  # the drop is past once frames flow again
    finally:
        assert camera.stop()


class GrabTimes:
    """The real source, recording when each frame was grabbed."""

    def __init__(self, inner: FrameSource, grabbed: list[float]) -> None:
        self._inner = inner
        self._grabbed = grabbed

    def grab(self) -> None:
        self._inner.grab()
        self._grabbed.append(time.monotonic())

    def retrieve(self) -> Image:
        return self._inner.retrieve()

    def read(self) -> Image:
        self.grab()
        return self.retrieve()

    def close(self) -> None:
        self._inner.close()


def status_of(pipeline: CameraPipeline, camera_id: str) -> CameraStatus:
    status = pipeline.camera(camera_id)
    assert status is not None
    return status


def test_hung_server_is_detected_and_reconnected_within_10_s_of_resuming(
    rtsp_server: RtspServer, detector: OnnxDetector
) -> None:
    config = camera_config("hang", rtsp_server.url("pattern"))
    real = source_factory(config)
    grabbed: list[float] = []
    moves: list[tuple[float, CameraState]] = []
    pipeline = CameraPipeline(
        [config],
        detector,
        lambda _f, _r: None,
        CollectorRegistry(),
        open_source=lambda _config: lambda: GrabTimes(real(), grabbed),
        state_listener=lambda _camera, _old, new: moves.append((time.monotonic(), new)),
    )
    pipeline.start()
    try:
        # The state moves first and is recorded after, so wait for the record.
        assert wait_until(lambda: [state for _, state in moves[-1:]] == [CameraState.STREAMING], 10)
        assert status_of(pipeline, "hang").state is CameraState.STREAMING
        moved_before = len(moves)
        rtsp_server.pause()
        # Then: the watchdog notices within about read_timeout_s of the last frame. Timed from the
        # frame, not the pause: frames the server sent before it are decoded after it, the longer
        # the busier the machine.
        assert wait_until(lambda: len(moves) > moved_before, 10)
        noticed_at, noticed = moves[moved_before]
        assert noticed is not CameraState.STREAMING
        last_frame_at = max(at for at in grabbed if at < noticed_at)
        assert noticed_at - last_frame_at < config.read_timeout_s + 1.0
        time.sleep(3.0)
        hung = status_of(pipeline, "hang")
        assert hung.state in (CameraState.RECONNECTING, CameraState.FAILED)
        assert hung.last_frame_at is not None
        rtsp_server.resume()
        resumed_at = time.monotonic()

        # ...and new frames stream again well within 10 s of the server resuming.
        def fresh() -> bool:
            status = status_of(pipeline, "hang")
            newer = status.last_frame_at is not None and status.last_frame_at > (hung.last_frame_at or 0)
            return status.state is CameraState.STREAMING and newer

        assert wait_until(fresh, 10)
        assert time.monotonic() - resumed_at < 10
        assert status_of(pipeline, "hang").reconnects >= 1
    finally:
        assert pipeline.stop()


def test_stop_returns_within_5_s_while_the_server_hangs(rtsp_server: RtspServer) -> None:
    configs = [camera_config(f"cam{index}", rtsp_server.url("pattern")) for index in range(2)]
    detector = OnnxDetector()
    pipeline = CameraPipeline(configs, detector, lambda _f, _r: None, CollectorRegistry())
    threads_before = threading.active_count()
    pipeline.start()
    try:
        assert wait_until(lambda: all(s.state is CameraState.STREAMING for s in pipeline.cameras()), 10)
        rtsp_server.pause()
        time.sleep(0.5)
    finally:
        started = time.monotonic()
        assert pipeline.stop()
        assert time.monotonic() - started < 5.0
        rtsp_server.resume()
        detector.close()
    assert threading.active_count() == threads_before
    assert all(s.state is CameraState.STOPPED for s in pipeline.cameras())


def test_wrong_host_port_or_path_fail_clearly_and_leave_others_alone(
    rtsp_server: RtspServer, detector: OnnxDetector, caplog: pytest.LogCaptureFixture
) -> None:
    secret_url = rtsp_server.url("pattern").replace("rtsp://", "rtsp://admin:hunter2@")
    configs = [
        camera_config("good", secret_url),
        camera_config("bad-port", f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/pattern"),
        camera_config(
            "bad-path", rtsp_server.url("no-such-mount").replace("rtsp://", "rtsp://admin:hunter2@")
        ),
        camera_config("bad-host", "rtsp://admin:hunter2@camera.invalid:554/stream"),
    ]
    caplog.set_level(logging.DEBUG)
    registry = CollectorRegistry()
    pipeline = CameraPipeline(configs, detector, lambda _f, _r: None, registry)
    pipeline.start()
    try:
        assert wait_until(
            lambda: all(
                s.state is (CameraState.STREAMING if s.camera_id == "good" else CameraState.FAILED)
                for s in pipeline.cameras()
            ),
            10,
        )
        statuses = {status.camera_id: status for status in pipeline.cameras()}
        assert "refused" in (statuses["bad-port"].last_error or "")
        assert "did not open" in (statuses["bad-path"].last_error or "")
        assert "resolve" in (statuses["bad-host"].last_error or "")
        # The good camera streams at its rate beside the failed ones: waited for rather than read
        # after a second, when a busy machine's decoding backlog could still hold the rate down.
        assert wait_until(lambda: status_of(pipeline, "good").fps_in > 20, 10)
        assert status_of(pipeline, "good").state is CameraState.STREAMING
        # Credentials never reach status, errors, metrics or logs.
        visible = [repr(status) for status in pipeline.cameras()]
        visible.append(generate_latest(registry).decode())
        visible.extend(record.getMessage() + repr(record.__dict__) for record in caplog.records)
        assert not [text for text in visible if "hunter2" in text]
        assert statuses["good"].url == rtsp_server.url("pattern")
    finally:
        assert pipeline.stop()


def test_200_connect_disconnect_cycles_leak_no_threads_or_fds(rtsp_server: RtspServer) -> None:
    config = camera_config("cycle", rtsp_server.url("fast"))
    opener: SourceFactory = source_factory(config)

    def cycle() -> None:
        camera = Camera(config, opener)
        camera.start()
        assert wait_until(lambda: camera.frames_in > 0, 20, 0.005)
        assert camera.stop()

    for _ in range(3):  # FFmpeg and OpenCV open their long-lived handles on first use
        cycle()
    threads, fds = threading.active_count(), open_fds()
    for _ in range(200):
        cycle()
    assert wait_until(lambda: threading.active_count() == threads and open_fds() == fds, 20)
