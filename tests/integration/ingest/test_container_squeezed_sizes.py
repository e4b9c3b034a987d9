"""A VP9, AV1 or Motion JPEG container file whose picture size changes part way, made with the real
ffmpeg (clips of two sizes joined with ``ffmpeg -f concat -c copy``) and played through the real
OpenCV source and camera. OpenCV's FFmpeg backend squeezes the later frames into the first size;
only H.264 and H.265 are played at each size, so the change is named, where the frames were served
squeezed without a word."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.config import CameraConfig
from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.conftest import wait_until
from tests.integration.ingest.media import ffmpeg

FRAMES = 10
ENCODERS = {
    "VP9": ("webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]),
    "AV1": ("mkv", ["-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8"]),
    "Motion JPEG": ("mkv", ["-c:v", "mjpeg"]),
}


def joined(folder: Path, codec: str) -> Path:
    container, encoder = ENCODERS[codec]
    parts = []
    for size in ("320x240", "480x272"):
        part = folder / f"part-{size}.{container}"
        source = f"testsrc=size={size}:rate=25,trim=end_frame={FRAMES}"
        ffmpeg("-f", "lavfi", "-i", source, *encoder, "-pix_fmt", "yuv420p", str(part))
        parts.append(part)
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{part}'\n" for part in parts))
    path = folder / f"camera.{container}"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(path))
    return path


def played_notices(path: Path) -> list[str | None]:
    """The source's notice after each of ``3 * FRAMES`` reads of the file: through it and on into its
    loop."""
    source = OpenCvSource(str(path), open_timeout_s=2, read_timeout_s=1)
    notices = []
    try:
        for _ in range(3 * FRAMES):
            source.read()
            notices.append(source.notice)
    finally:
        source.close()
    return notices


@pytest.mark.parametrize("codec", sorted(ENCODERS))
def test_a_change_of_size_the_source_cannot_play_is_named_where_it_comes(tmp_path: Path, codec: str) -> None:
    # When: the file is played through, and on into its loop
    notices = played_notices(joined(tmp_path, codec))
    # Then: nothing is said of the first part; from the second on, its codec and both sizes
    assert notices[:FRAMES] == [None] * FRAMES
    assert len(set(notices[FRAMES:])) == 1
    notice = notices[FRAMES]
    assert notice is not None
    assert f"{codec} video changes picture size part way, from 320x240 to 480x272" in notice
    assert "squeezed into 320x240" in notice


def test_a_file_camera_names_its_squeezed_frames_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = CameraConfig.model_validate({"id": "gate", "url": str(joined(tmp_path, "VP9"))})
    camera = Camera(config, source_factory(config))
    caplog.set_level(logging.WARNING, logger="gateway.ingest.camera")
    camera.start()
    try:
        assert wait_until(lambda: camera.last_error is not None, 15)
        error = camera.last_error
        # And: it is still named after the file loops and reaches the change again
        assert wait_until(lambda: camera.frames_in > 2 * 2 * FRAMES + FRAMES + 1, 30)
        reconnects, last_error = camera.reconnects, camera.last_error
    finally:
        assert camera.stop()
    assert error is not None
    assert "changes picture size part way" in error
    assert (reconnects, last_error) == (0, error)
    warnings = [record for record in caplog.records if "changes picture size part way" in record.getMessage()]
    assert len(warnings) == 1


def test_a_damaged_motion_jpeg_frame_is_no_change_of_size(tmp_path: Path) -> None:
    # Given a Motion JPEG file of one size, a later frame's quantization table marker (0xDB) damaged
    # into a start of frame the decoder does not take (0xCB, arithmetic): its bytes read as a size
    path = tmp_path / "camera.mkv"
    pattern = f"testsrc=size=320x240:rate=25,trim=end_frame={2 * FRAMES}"
    ffmpeg("-f", "lavfi", "-i", pattern, "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", str(path))
    data = bytearray(path.read_bytes())
    marker = -1
    for _ in range(FRAMES + 1):  # the first table of frame FRAMES + 1 (each frame has its own)
        marker = data.index(b"\xff\xd8", marker + 1)
    table = data.index(b"\xff\xdb", marker)
    data[table + 1] = 0xCB
    path.write_bytes(bytes(data))
    # When it is played through, and on into its loop, then no change of size is named (it was "from
    # 320x240 to 10287x2088", for the rest of the file)
    assert played_notices(path) == [None] * (3 * FRAMES)
