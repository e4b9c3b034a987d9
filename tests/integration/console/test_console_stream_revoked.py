"""A live view watched with a token that a reload revokes ends, whether it was opened with the token
itself or with a console session the token opened; a view watched with a token still in force goes
on. Before, the revocation turned away the next request only: a view already open went on streaming
the camera to the holder of the leaked token until they left. So did a view of a session logged
out. Runs the real ``edge-gateway serve`` on the demo clip, SIGHUP after the tokens file is edited,
and a real HTTP client reading the views; the logout, the real app over the console tests' camera."""

from __future__ import annotations

import http.client
import json
import signal
import time
from pathlib import Path

import cv2
import numpy as np

from gateway.domain import CameraState
from gateway.web.session import CSRF_HEADER
from tests.support.command import write_config
from tests.support.console_app import OneCamera, console_app
from tests.support.serve import CLIP, Process

CAMERA = "door"
STREAM = f"/v1/cameras/{CAMERA}/stream.mjpeg"
FRAME_HEAD = b"Content-Type: image/jpeg"
WAIT_S = 60.0
"""A bound on waiting, not a measure: a view that ends does so within a frame or two."""
NEVER = 1_000_000
"""More frames than a view sends in ``WAIT_S``: read until it ends."""


class View:
    """One live view, read as a client reads it."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
        self.connection.request("GET", STREAM, headers=headers)
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.read()

    def ends_within(self, frames: int) -> bool:
        """Reads until the view ends (True) or ``frames`` frames came (False)."""
        seen = 0
        deadline = time.monotonic() + WAIT_S
        while seen < frames:
            assert time.monotonic() < deadline, f"{seen} frames in {WAIT_S} s, and no end"
            chunk = self.response.read1(65536)
            if not chunk:
                return True
            seen += chunk.count(FRAME_HEAD)
        return False

    def close(self) -> None:
        self.connection.close()


def session_cookie(port: int, token: str) -> str:
    """The cookie of a console session opened with ``token`` (the login form's request)."""
    return login(port, token)[0]


def login(port: int, token: str) -> tuple[str, str]:
    """The cookie and the CSRF token of a console session opened with ``token``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    try:
        connection.request(
            "POST", "/v1/session", json.dumps({"token": token}), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200
        csrf_token: str = json.loads(body)["csrf_token"]
        return response.headers["Set-Cookie"].split(";", 1)[0], csrf_token
    finally:
        connection.close()


def status_of(port: int, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    try:
        connection.request("GET", STREAM, headers=headers)
        response = connection.getresponse()
        status: int = response.status
        return status
    finally:
        connection.close()


def test_a_revoked_token_ends_the_live_views_it_opened(tmp_path: Path, processes: list[Process]) -> None:
    # Given a gateway streaming the demo clip, whose API takes the tokens of a file,
    tokens = tmp_path / "tokens"
    tokens.write_text("leaked-token\nkept-token\n", encoding="utf-8")
    camera = {"id": CAMERA, "url": str(CLIP), "model": "face-detector", "motion": {"enabled": False}}
    config = write_config(
        tmp_path / "gateway.yaml",
        "revoke",
        http={"port": 0, "tokens_file": str(tokens)},
        cameras=[camera],
    )
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    port = gateway.api_port()
    # and three live views showing frames: one with the leaked token, one with a console session
    # it opened, one with the token that stays
    leaked = {"Authorization": "Bearer leaked-token"}
    session = {"Cookie": session_cookie(port, "leaked-token")}
    kept = {"Authorization": "Bearer kept-token"}
    views = [View(port, leaked), View(port, session), View(port, kept)]
    try:
        for view in views:
            assert not view.ends_within(frames=2)

        # When the leaked token is taken out of the file and the gateway is told
        logged = len(gateway.output())
        tokens.write_text("kept-token\n", encoding="utf-8")
        gateway.signal(signal.SIGHUP)
        gateway.wait_for_log("(http.tokens_file) changed and apply now", WAIT_S, after=logged)

        # Then the views it opened end, and asked for again are refused; the other view goes on
        leaked_view, session_view, kept_view = views
        assert leaked_view.ends_within(frames=NEVER)
        assert session_view.ends_within(frames=NEVER)
        assert status_of(port, leaked) == 401
        assert status_of(port, session) == 401
        assert not kept_view.ends_within(frames=3)
    finally:
        for view in views:
            view.close()
    assert gateway.terminate() == 0, gateway.output()


def test_a_logout_ends_the_live_views_of_its_session(tmp_path: Path) -> None:
    # Given a console session watching a camera's live view
    tokens = tmp_path / "tokens"
    tokens.write_text("a-token\n", encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n")
    picture = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))[1].tobytes()
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, picture), config, tokens_file=tokens) as api:
        cookie, csrf_token = login(api.port, "a-token")
        view = View(api.port, {"Cookie": cookie})
        try:
            assert not view.ends_within(frames=2)

            # When it logs out
            logout = api.request("DELETE", "/v1/session", headers={"Cookie": cookie, CSRF_HEADER: csrf_token})
            assert logout.status == 204, logout.body

            # Then the view ends, and asked for again is refused
            assert view.ends_within(frames=NEVER)
            assert status_of(api.port, {"Cookie": cookie}) == 401
        finally:
            view.close()
