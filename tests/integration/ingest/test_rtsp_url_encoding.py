"""A camera password with a space, written as a URL holds it (``%20``), opens through the real RTSP
server and reader; written raw, the config refuses it before anything connects."""

from __future__ import annotations

import pytest

from gateway.config import CameraConfig, parse_config
from gateway.domain import CameraState
from gateway.errors import ConfigError
from gateway.ingest.camera import Camera
from gateway.ingest.sources import source_factory
from tests.integration.ingest.conftest import wait_until
from tests.support.rtsp_server import RtspServer


def test_a_percent_encoded_password_with_a_space_streams_and_is_never_shown() -> None:
    with RtspServer({"gate": "fast-pattern"}) as server:
        url = server.url("gate").replace("rtsp://", "rtsp://admin:open%20sesame@")
        config = CameraConfig.model_validate({"id": "gate", "url": url})
        camera = Camera(config, source_factory(config))
        camera.start()
        try:
            streaming = wait_until(lambda: camera.peek_newest() is not None, 10)
            state = camera.state
        finally:
            assert camera.stop()
    assert streaming, camera.last_error
    assert state is CameraState.STREAMING
    assert camera.display_url == server.url("gate")


def test_the_same_password_written_raw_is_refused_before_anything_connects() -> None:
    text = "cameras:\n  - id: gate\n    url: 'rtsp://admin:open sesame@127.0.0.1:8554/gate'\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    assert "has a space in its user name or password: write it percent-encoded, as %20" in str(caught.value)
    assert "sesame" not in str(caught.value)
