"""An RTSP camera that comes back from a restart at another resolution (its stream profile was
changed): the reader reconnects and its frames take the new size, and motion gating starts over
rather than compare frames of two sizes."""

from __future__ import annotations

from pathlib import Path

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.ingest.camera import Camera
from gateway.ingest.motion import MotionGate
from gateway.ingest.sources import source_factory
from tests.integration.ingest.conftest import wait_until
from tests.support import clips
from tests.support.rtsp_server import RtspServer


def test_frames_take_the_new_size_after_the_camera_restarts_at_another(tmp_path: Path) -> None:
    small = clips.write_raw_i420(clips.moving_clip(25, 320, 240), tmp_path / "small.yuv")
    large = clips.write_raw_i420(clips.moving_clip(25, 480, 272), tmp_path / "large.yuv")
    server = RtspServer({"gate": small}).start()
    config = CameraConfig.model_validate(
        {"id": "gate", "url": server.url("gate"), "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    )
    camera = Camera(config, source_factory(config))
    gate = MotionGate(config.motion)
    camera.start()
    try:
        assert wait_until(lambda: camera.peek_newest() is not None, 10), camera.last_error
        before = camera.peek_newest()
        assert before is not None
        gate.check(before.image, 0.0)
        # When: the camera restarts on the same address with a larger picture
        server.stop()
        server = RtspServer({"gate": large}, port=server.port).start()

        def resized() -> bool:
            frame = camera.peek_newest()
            return frame is not None and frame.image.shape == (272, 480, 3)

        assert wait_until(resized, 20), camera.last_error
        after = camera.peek_newest()
        state = camera.state
    finally:
        assert camera.stop()
        server.stop()
    assert before.image.shape == (240, 320, 3)
    assert state is CameraState.STREAMING
    assert after is not None
    # Then: the gate compares nothing across the sizes: the new picture is its new background
    assert gate.check(after.image, 1.0).run_model
