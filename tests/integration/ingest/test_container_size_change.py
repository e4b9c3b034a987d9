"""A container file (MP4, MKV, MOV) whose H.264 or H.265 video changes picture size part way, made
with the real ffmpeg the way such files come about (clips of two sizes joined with ``ffmpeg -f concat
-c copy``, each key frame carrying its parameter sets as a camera's stream does) and played through
the real OpenCV source and camera: each part at its own size. OpenCV's FFmpeg backend squeezed every
frame of the later parts into the first size, for good (a file never reconnects)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.config import CameraConfig
from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.media import an_opencv_that_reads_no_streams, camera_shows_in_turn, ffmpeg

FRAMES = 10
SIZES = [(320, 240), (480, 272), (160, 120)]
ENCODERS = {
    "h264": ["-c:v", "libx264", "-x264-params", "repeat-headers=1"],
    "h265": ["-c:v", "libx265", "-x265-params", "log-level=error:repeat-headers=1", "-tag:v", "hvc1"],
}


def joined(folder: Path, codec: str, container: str, sizes: list[tuple[int, int]], rate: int = 25) -> Path:
    """Clips of ``sizes``, FRAMES frames each at ``rate`` fps, joined into one file without
    re-encoding."""
    parts = []
    for width, height in sizes:
        part = folder / f"part-{width}x{height}.{container}"
        source = f"testsrc=size={width}x{height}:rate={rate},trim=end_frame={FRAMES}"
        ffmpeg("-f", "lavfi", "-i", source, *ENCODERS[codec], "-pix_fmt", "yuv420p", str(part))
        parts.append(part)
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{part}'\n" for part in parts))
    path = folder / f"camera.{container}"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(path))
    return path


def first_frame(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    read, frame = capture.read()
    capture.release()
    assert read
    return np.asarray(frame)


@pytest.mark.parametrize("container", ["mp4", "mkv", "mov"])
@pytest.mark.parametrize("codec", sorted(ENCODERS))
def test_each_part_of_a_container_of_two_sizes_plays_at_its_own_size(
    tmp_path: Path, codec: str, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    played = joined(tmp_path, codec, container, SIZES[:2])
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    try:
        # When: the file is played through, and on into its loop
        frames = [source.read() for _ in range(3 * FRAMES)]
    finally:
        source.close()
    # Then: the small part, the large part as it is (not squeezed), then the small part again
    small, large = (240, 320, 3), (272, 480, 3)
    assert [frame.shape for frame in frames] == [small] * FRAMES + [large] * FRAMES + [small] * FRAMES
    assert np.array_equal(frames[FRAMES], first_frame(tmp_path / f"part-480x272.{container}"))
    # And: the rest of the file, written out to be played at its size, is gone with the source
    assert list((tmp_path / "temporary").iterdir()) == []


def test_the_rest_of_a_container_plays_at_the_containers_frame_rate(tmp_path: Path) -> None:
    # Given: a 10 fps recording of two sizes, whose rest is played as a raw stream, which carries no
    # frame rate FFmpeg reads (it takes 25)
    played = joined(tmp_path, "h264", "mp4", SIZES[:2], rate=10)
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    try:
        first = [source.read() for _ in range(FRAMES)]
        started = time.monotonic()
        rest = [source.read() for _ in range(FRAMES)]
        took = time.monotonic() - started
    finally:
        source.close()
    assert {frame.shape for frame in first} == {(240, 320, 3)}
    assert {frame.shape for frame in rest} == {(272, 480, 3)}
    # Then: its ten frames take a second, as the first part's did, not 0.4 s (a slower machine
    # can only take longer)
    assert took >= 0.8, took


def test_a_container_of_three_sizes_plays_each(tmp_path: Path) -> None:
    played = joined(tmp_path, "h264", "mp4", SIZES)
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    try:
        shapes = [source.read().shape[1::-1] for _ in range(4 * FRAMES)]
    finally:
        source.close()
    assert shapes == [size for size in [*SIZES, SIZES[0]] for _ in range(FRAMES)]


def test_a_file_camera_on_a_container_shows_the_second_size(tmp_path: Path) -> None:
    config = CameraConfig.model_validate(
        {"id": "gate", "url": str(joined(tmp_path, "h264", "mp4", SIZES[:2]))}
    )
    shown = camera_shows_in_turn(Camera(config, source_factory(config)), [(272, 480, 3), (240, 320, 3)])
    assert shown == (None, 0)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_the_parts_of_a_rotated_container_are_turned_like_its_first(tmp_path: Path, rotation: int) -> None:
    # Given: a phone's clip of two sizes, its rotation in its metadata, and its second part alone so
    played = joined(tmp_path, "h264", "mp4", SIZES[:2])
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(played), "-c", "copy", "-metadata:s:v:0", f"rotate={rotation}", str(rotated))
    large = tmp_path / "large-rotated.mp4"
    ffmpeg(
        "-i",
        str(tmp_path / "part-480x272.mp4"),
        "-c",
        "copy",
        "-metadata:s:v:0",
        f"rotate={rotation}",
        str(large),
    )
    source = OpenCvSource(str(rotated), open_timeout_s=2, read_timeout_s=1)
    try:
        frames = [source.read() for _ in range(FRAMES + 1)]
    finally:
        source.close()
    # Then: the second part is turned as OpenCV turns it (it came out lying on its side)
    assert np.array_equal(frames[FRAMES], first_frame(large))
    assert frames[0].shape[:2] == ((320, 240) if rotation != 180 else (240, 320))


def test_an_opencv_that_reads_no_streams_plays_a_containers_sizes_each_at_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: an OpenCV before 4.9. The rest of a container, written out whole, is opened by FFmpeg's
    # URL of each of its parts, which such an OpenCV opens as well
    an_opencv_that_reads_no_streams(monkeypatch)
    source = OpenCvSource(str(joined(tmp_path, "h264", "mp4", SIZES[:2])), open_timeout_s=2, read_timeout_s=1)
    try:
        frames = [source.read() for _ in range(3 * FRAMES)]
    finally:
        source.close()
    small, large = (240, 320, 3), (272, 480, 3)
    assert [frame.shape for frame in frames] == [small] * FRAMES + [large] * FRAMES + [small] * FRAMES
