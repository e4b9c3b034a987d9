"""Odd streams made with the real ffmpeg, through the real OpenCV source and camera reader: files that
cannot seek, files with no video, a server that accepts a connection but never answers, and a camera
slower than its detect_fps."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.errors import SourceError
from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.conftest import wait_until
from tests.support.rtsp_server import RtspServer

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

RAW_FRAMES = 10


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True, timeout=30)


@pytest.fixture(scope="module")
def raw_h264(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw H.264 elementary stream (what a camera's recorder dumps): no container, so no seeking."""
    path = tmp_path_factory.mktemp("odd") / "clip.h264"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=size=160x120:rate=25,trim=end_frame={RAW_FRAMES}",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "h264", str(path),
    )  # fmt: skip
    return path


def test_a_raw_h264_file_loops_like_any_other_file(raw_h264: Path) -> None:
    source = OpenCvSource(str(raw_h264), open_timeout_s=2, read_timeout_s=1)
    try:
        # When: read for two and a half passes over a file that cannot seek back to its start.
        shapes = {source.read().shape for _ in range(RAW_FRAMES * 5 // 2)}
    finally:
        source.close()
    # Then: it starts over instead of failing at its end.
    assert shapes == {(120, 160, 3)}


def test_a_camera_on_a_raw_h264_file_loops_without_reconnecting(raw_h264: Path) -> None:
    config = CameraConfig.model_validate({"id": "raw", "url": str(raw_h264), "reconnect_min_s": 0.1})
    states: list[CameraState] = []
    camera = Camera(config, source_factory(config), on_state=lambda _old, new: states.append(new))
    camera.start()
    try:
        # When: the file plays through its end twice (10 frames at 25 fps each pass).
        assert wait_until(lambda: camera.frames_in > RAW_FRAMES * 2 + 2, 20)
    finally:
        assert camera.stop()
    # Then: its loop is no lost stream: no reconnect, no state flap, no error.
    assert camera.reconnects == 0
    assert camera.last_error is None
    assert states == [CameraState.CONNECTING, CameraState.STREAMING, CameraState.STOPPED]


@pytest.mark.parametrize("kind", ["empty", "audio only", "truncated"])
def test_a_file_with_no_readable_video_says_so(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "clip.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "audio only":
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(path))
    else:
        whole = tmp_path / "whole.mp4"
        ffmpeg(
            "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-pix_fmt", "yuv420p", str(whole)
        )
        path.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(SourceError) as caught:
        OpenCvSource(str(path), open_timeout_s=1, read_timeout_s=1)
    # Then: the error names the file and the problem, and does not talk about a server.
    message = str(caught.value)
    assert "not a readable video" in message
    assert str(path) in message
    assert "server" not in message


@pytest.mark.parametrize(("open_timeout_s", "read_timeout_s"), [(1.0, 1.0), (4.0, 3.0)])
def test_a_server_that_accepts_but_never_answers_is_named_a_timeout(
    open_timeout_s: float, read_timeout_s: float
) -> None:
    with RtspServer({"pattern": "pattern"}) as server:
        # Given: the real RTSP server hangs (SIGSTOP): the kernel still accepts its connections.
        # With the defaults (4 and 3), FFmpeg's own read timeout ended the open after 3 s, which
        # was taken for a quick refusal: "wrong path or credentials?"
        server.pause()
        try:
            with pytest.raises(SourceError) as caught:
                OpenCvSource(
                    server.url("pattern"), open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s
                )
        finally:
            server.resume()
    # Then: a timeout, not a hint at a wrong path or credentials.
    message = str(caught.value)
    assert f"did not answer within {min(open_timeout_s, read_timeout_s):.1f} s" in message
    assert "credentials" not in message


def test_a_slow_camera_s_frame_is_kept_for_a_visit_long_after_it(tmp_path: Path) -> None:
    # Given: a 1 fps camera (a real file played at its own rate) and a sampler that visits 0.5 s
    # after its second frame arrives.
    path = tmp_path / "slow.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=1:duration=4", "-pix_fmt", "yuv420p", str(path))
    config = CameraConfig.model_validate({"id": "slow", "url": str(path), "detect_fps": 5})
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        assert wait_until(lambda: camera.peek_newest() is not None, 20)
        first = camera.take_newest()
        assert first is not None
        camera.expect_sample_at(first.monotonic_at + 1.5)
        assert wait_until(lambda: camera.frames_in >= 2, 20)
        # Then: the second frame waits in the slot for that visit; no third frame comes before it.
        second = camera.take_newest()
    finally:
        assert camera.stop()
    assert second is not None
    assert second.seq == 2


@pytest.mark.parametrize("host", ["cam..local", "a" * 64 + ".example"])
def test_a_host_name_with_an_empty_or_over_long_label_fails_clearly_and_keeps_retrying(host: str) -> None:
    config = CameraConfig.model_validate(
        {
            "id": "typo",
            "url": f"rtsp://viewer:hunter2@{host}/stream",
            "reconnect_min_s": 0.01,
            "reconnect_max_s": 0.02,
        }
    )
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        # When: the reader tries the URL a few times.
        assert wait_until(lambda: camera.reconnects >= 2, 20)
        # Then: the camera is failed with the host named, and its reader is still retrying.
        assert camera.state is CameraState.FAILED
        assert camera.reader_alive
        assert f"invalid host name {host!r}" in (camera.last_error or "")
        assert "hunter2" not in (camera.last_error or "")
    finally:
        assert camera.stop()


class NginxLike(BaseHTTPRequestHandler):
    """Answers every request like a web server would: an HTTP/1.1 400 status line."""

    def log_message(self, *_: object) -> None:
        pass

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.close_connection = True


@pytest.fixture
def web_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NginxLike)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-web", daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_an_rtsp_url_to_a_web_server_says_it_is_not_an_rtsp_server(web_server: int) -> None:
    with pytest.raises(SourceError) as caught:
        OpenCvSource(
            f"rtsp://admin:hunter2@127.0.0.1:{web_server}/stream", open_timeout_s=2, read_timeout_s=1
        )
    message = str(caught.value)
    assert "not an RTSP server: it answered 'HTTP/1.1 400 Bad Request'" in message
    assert "hunter2" not in message


def test_a_wrong_rtsp_path_says_the_server_has_no_such_stream() -> None:
    with RtspServer({"pattern": "pattern"}) as server:
        url = server.url("no-such-mount").replace("rtsp://", "rtsp://admin:hunter2@") + "?token=sekrit"
        with pytest.raises(SourceError) as caught:
            OpenCvSource(url, open_timeout_s=2, read_timeout_s=1)
    message = str(caught.value)
    assert "no stream at this path: the server answered 'RTSP/1.0 404 Not Found'" in message
    assert "hunter2" not in message
    assert "sekrit" not in message


class ShortSessions(BaseHTTPRequestHandler):
    """An MJPEG camera that drops every session after a few frames (one whose encoder keeps
    restarting): the stream opens, then ends at once."""

    sessions = 0
    frame = bytes(cv2.imencode(".jpg", np.full((120, 160, 3), 90, dtype=np.uint8))[1].tobytes())

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).sessions += 1
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(self.frame)
        self.wfile.write((part + self.frame + b"\r\n") * 5)


def test_a_camera_that_drops_every_session_is_reopened_with_backoff_not_in_a_tight_loop() -> None:
    ShortSessions.sessions = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), ShortSessions)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-short-sessions", daemon=True)
    thread.start()
    config = CameraConfig.model_validate(
        {
            "id": "flaky",
            "url": f"http://127.0.0.1:{server.server_address[1]}/video.mjpg",
            "reconnect_min_s": 0.3,
            "reconnect_max_s": 0.6,
        }
    )
    camera = Camera(config, source_factory(config))
    started = time.monotonic()
    camera.start()
    try:
        # When: the camera has lost its stream four times.
        assert wait_until(lambda: camera.reconnects >= 4, 20)
        elapsed = time.monotonic() - started
    finally:
        assert camera.stop()
        server.shutdown()
        server.server_close()
        thread.join(5)
    # Then: each of the three reopens waited at least reconnect_min_s (a tight loop does them in
    # milliseconds).
    assert elapsed >= 3 * 0.3
    assert ShortSessions.sessions <= 5
    assert "stream ended" in (camera.last_error or "")
