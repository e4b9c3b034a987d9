"""A GStreamer camera's URL may use any scheme the pipeline knows (``rtspt://``), so the config lets
through a password holding '/' or '?': its status, metrics and logs still show none of it."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.ingest.cameras import CameraPipeline
from tests.integration.ingest.conftest import OnnxDetector, wait_until

PIPELINE = "rtspsrc location={url} latency=0 ! decodebin ! videoconvert ! appsink"


@pytest.mark.parametrize(
    "url",
    ["rtspt://admin:pa/hunter2@127.0.0.1:9/stream", "rtspt://admin:pa?hunter2@127.0.0.1:9/stream"],
)
def test_a_gstreamer_camera_shows_no_part_of_a_password_holding_a_slash_or_question_mark(
    url: str, detector: OnnxDetector, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a GStreamer camera whose password holds a character that ends urlsplit's host
    config = CameraConfig.model_validate(
        {
            "id": "gst",
            "url": url,
            "model": "bright",
            "decoder": "gstreamer",
            "gstreamer_pipeline": PIPELINE,
            "open_timeout_s": 1.0,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            "motion": {"enabled": False},
        }
    )
    caplog.set_level(logging.DEBUG)
    registry = CollectorRegistry()
    pipeline = CameraPipeline([config], detector, lambda _frame, _result: None, registry)

    # When it fails to open (no GStreamer backend, or nothing listening on port 9)
    pipeline.start()
    try:
        assert wait_until(
            lambda: any(status.state is CameraState.FAILED for status in pipeline.cameras()), 10
        )
        (status,) = pipeline.cameras()

        # Then status, error, metrics and logs name the host and path, and no part of the password
        assert status.url == "rtspt://127.0.0.1:9/stream"
        visible = [repr(status), generate_latest(registry).decode()]
        visible.extend(record.getMessage() + repr(record.__dict__) for record in caplog.records)
        assert not [text for text in visible if "hunter2" in text or "admin" in text]
    finally:
        assert pipeline.stop()
