"""Files of every kind a camera may be pointed at, made with the real ffmpeg and read through the real
OpenCV source and camera reader: containers and codecs, pixel formats, rotation metadata, image
sequences and a variable frame rate."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.conftest import wait_until

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

FRAMES = 10
SOURCE = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=25,trim=end_frame={FRAMES}"]
KINDS = {
    "hevc.mp4": ["-c:v", "libx265", "-x265-params", "log-level=error"],
    "clip.mkv": ["-c:v", "libx264"],
    "clip.webm": ["-c:v", "libvpx-vp9"],
    "mjpeg.avi": ["-c:v", "mjpeg"],
    "clip.gif": [],
    "yuv444.mp4": ["-c:v", "libx264", "-pix_fmt", "yuv444p"],
    "ten-bit.mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
    "full-range.mp4": ["-c:v", "libx264", "-pix_fmt", "yuvj420p"],
    # Elementary streams that start 00 00 01 like raw H.264: their slices were read as its parameter
    # sets, and the file cut into parts that each started part way through a picture.
    "mpeg2.m2v": ["-c:v", "mpeg2video"],
    "mpeg1.mpv": ["-c:v", "mpeg1video", "-f", "mpeg1video"],
    "interlaced.m2v": ["-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1"],
    "mpeg4.m4v": ["-c:v", "mpeg4"],
}


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True, timeout=60)


def read_shapes(path: str, count: int) -> set[tuple[int, ...]]:
    source = OpenCvSource(path, open_timeout_s=2, read_timeout_s=1)
    try:
        return {source.read().shape for _ in range(count)}
    finally:
        source.close()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_of_file_loops_at_its_size(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    ffmpeg(*SOURCE, *KINDS[name], str(path))
    assert read_shapes(str(path), FRAMES * 2) == {(120, 160, 3)}


def test_a_file_with_rotation_metadata_is_read_upright(tmp_path: Path) -> None:
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    ffmpeg(*SOURCE, "-c:v", "libx264", str(plain))
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    # Then: frames come turned as the display matrix says (a phone's portrait clip stays portrait).
    assert read_shapes(str(rotated), 3) == {(160, 120, 3)}


def test_a_camera_on_an_image_sequence_streams_its_images(tmp_path: Path) -> None:
    ffmpeg(*SOURCE, str(tmp_path / "img%03d.png"))
    config = CameraConfig.model_validate({"id": "stills", "url": str(tmp_path / "img%03d.png")})
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        # When: the camera has read past the end of the sequence (it was refused: "no such video file").
        streamed = wait_until(lambda: camera.frames_in > FRAMES, 10)
        frame = camera.peek_newest()
        state = camera.state
    finally:
        assert camera.stop()
    assert streamed, camera.last_error
    assert state is CameraState.STREAMING
    assert frame is not None
    assert frame.image.shape == (120, 160, 3)
    assert camera.reconnects == 0


def test_a_variable_frame_rate_file_plays_its_frames_at_their_timestamps(tmp_path: Path) -> None:
    # Given: ten frames at 25 fps (0 to 0.36 s), then one at 2 s and one at 3 s: 4 fps on average.
    path = tmp_path / "variable.mp4"
    timestamps = "setpts='if(lt(N,10),N/25,N-8)/TB'"
    ffmpeg(
        *SOURCE[:3],
        f"testsrc=size=160x120:rate=25,trim=end_frame=12,{timestamps}",
        "-vsync",
        "vfr",
        str(path),
    )
    source = OpenCvSource(str(path), open_timeout_s=2, read_timeout_s=4)
    try:
        arrivals = []
        for _ in range(11):
            source.read()
            arrivals.append(time.monotonic())
    finally:
        source.close()
    # Then: the 1.64 s pause before the eleventh frame is kept (at the average rate every frame came
    # 0.25 s after the one before, and the ten quick ones took 2.5 s).
    assert arrivals[10] - arrivals[9] >= 1.2


def test_a_camera_on_a_timelapse_file_stops_between_its_frames(tmp_path: Path) -> None:
    # Given: a file of one frame every 20 s, and a camera whose timeouts allow for it.
    path = tmp_path / "timelapse.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=160x120:rate=1/20,trim=end_frame=3", "-c:v", "libx264", str(path)
    )
    config = CameraConfig.model_validate({"id": "timelapse", "url": str(path), "read_timeout_s": 30})
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        assert wait_until(lambda: camera.frames_in >= 1, 10), camera.last_error
    finally:
        # Then: the reader, asleep until the next frame is due, stops within the usual bound.
        stopped = camera.stop(3.0)
    assert stopped
