"""The live view's viewers as the server counts them, against the real app over the hand-written camera
directory of the console tests: a viewer who leaves a camera that has no picture (down since start)
is no longer counted and its encoder task ends, and a ``HEAD`` is answered with the headers alone.

aiohttp does not cancel the handler of a client that went away, and only a write finds out: with no
frame to write, every viewer who had ever opened such a camera's page stayed counted, and kept the
camera's encoder polling, until the gateway stopped. A ``HEAD`` joined the stream and sent its
endless body, which a client reading the next answer on the same connection took for one. The view
of a camera a reload renamed or removed stayed open with nothing to send; it ends, and asked for
again is a 404 naming the camera."""

from __future__ import annotations

import dataclasses
import http.client
import time
from pathlib import Path

import cv2
import numpy as np

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.unit.api.harness import ServedApi

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"
WAIT_S = 10.0


def jpeg() -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


def gauge(api: ServedApi, name: str) -> float:
    for line in api.get("/metrics").body.decode().splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} on /metrics")


def wait_for_gauge(api: ServedApi, name: str, expected: float) -> None:
    deadline = time.monotonic() + WAIT_S
    while (value := gauge(api, name)) != expected:
        assert time.monotonic() < deadline, f"{name} stayed at {value}, expected {expected}"
        time.sleep(0.05)


def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    return path


def test_viewers_who_left_a_camera_with_no_picture_are_no_longer_counted(tmp_path: Path) -> None:
    camera = OneCamera(CAMERA, CameraState.RECONNECTING, None)
    with console_app(camera, config(tmp_path)) as api:
        # Given three viewers of a camera that has no picture to send,
        connections = [http.client.HTTPConnection("127.0.0.1", api.port, timeout=10) for _ in range(3)]
        for connection in connections:
            connection.request("GET", f"/v1/cameras/{CAMERA}/stream.mjpeg")
            assert connection.getresponse().status == 200
        wait_for_gauge(api, "edge_gateway_console_stream_viewers", 3)
        # when they go away,
        for connection in connections:
            connection.close()
        # none is counted, and nothing is encoded for the camera any longer.
        wait_for_gauge(api, "edge_gateway_console_stream_viewers", 0)
        wait_for_gauge(api, "edge_gateway_console_stream_encoders", 0)


def test_a_head_of_the_live_view_is_its_headers_alone(tmp_path: Path) -> None:
    camera = OneCamera(CAMERA, CameraState.STREAMING, jpeg())
    with console_app(camera, config(tmp_path)) as api:
        connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
        try:
            connection.request("HEAD", f"/v1/cameras/{CAMERA}/stream.mjpeg")
            head = connection.getresponse()
            assert head.status == 200
            assert head.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
            assert head.read() == b""
            # The same connection answers the next request: no body of the HEAD is in the way.
            connection.request("GET", "/v1/cameras")
            following = connection.getresponse()
            assert following.status == 200
            assert following.getheader("Content-Type", "").startswith("application/json")
            following.read()
        finally:
            connection.close()
        assert gauge(api, "edge_gateway_console_stream_encoders") == 0


def test_the_view_of_a_camera_a_reload_renamed_ends_and_is_then_a_404(tmp_path: Path) -> None:
    camera = OneCamera(CAMERA, CameraState.STREAMING, jpeg())
    with console_app(camera, config(tmp_path)) as api:
        connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=WAIT_S)
        try:
            # Given a viewer of the camera, shown its picture,
            connection.request("GET", f"/v1/cameras/{CAMERA}/stream.mjpeg")
            response = connection.getresponse()
            assert response.status == 200
            assert response.read(len(b"--frame")) == b"--frame"
            # when a reload renames the camera, its view ends (it stayed open with nothing to send),
            camera.status = dataclasses.replace(camera.status, camera_id="gate-renamed")
            response.read()  # to its end; the connection's timeout fails the test if it never comes
        finally:
            connection.close()
        # and asked for again it is a 404 naming the camera.
        again = api.get(f"/v1/cameras/{CAMERA}/stream.mjpeg")
        assert again.status == 404
        assert again.json() == {"error": f"unknown camera {CAMERA!r} (cameras: gate-renamed)"}
        wait_for_gauge(api, "edge_gateway_console_stream_viewers", 0)
