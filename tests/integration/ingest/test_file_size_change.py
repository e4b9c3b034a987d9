"""A raw H.264 or H.265 file whose picture size changes part way, made with the real ffmpeg (``cat
small.h264 large.h264``, as a recorder that followed a camera's new profile writes it) and played
through the real OpenCV source and camera: each part plays at its own size. OpenCV's FFmpeg backend
scaled every frame to the first size, to the end of the file, and a looping file never reconnects, so
the camera never saw the second size at all."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.config import CameraConfig
from gateway.ingest import elementary, file_range, h264, h265
from gateway.ingest.camera import Camera
from gateway.ingest.elementary import size_segments
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.media import an_opencv_that_reads_no_streams, camera_shows_in_turn, ffmpeg

FRAMES = 10
SMALL, LARGE = (240, 320, 3), (272, 480, 3)


# Each codec's encoder options, its raw format, and the bytes that start its sequence parameter set.
CODECS = {
    "h264": (["-c:v", "libx264"], "h264", b"\x00\x00\x01\x67"),
    "h265": (["-c:v", "libx265", "-x265-params", "log-level=error"], "hevc", b"\x00\x00\x01\x42\x01"),
}


def raw_stream(path: Path, width: int, height: int, *options: str, codec: str = "h264") -> Path:
    """FRAMES frames of ffmpeg's test pattern as a raw H.264 or H.265 stream (Annex B, no container)."""
    encoder, raw_format, _ = CODECS[codec]
    source = f"testsrc=size={width}x{height}:rate=25,trim=end_frame={FRAMES}"
    ffmpeg("-f", "lavfi", "-i", source, *encoder, *options, "-f", raw_format, str(path))
    return path


def two_sizes(folder: Path, codec: str = "h264", *options: str) -> Path:
    """A 320x240 stream followed by a 480x272 one, in one file."""
    joined = folder / f"camera.{codec}"
    parts = [
        raw_stream(folder / f"small.{codec}", 320, 240, *options, codec=codec),
        raw_stream(folder / f"large.{codec}", 480, 272, *options, codec=codec),
    ]
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    return joined


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_each_part_of_a_file_of_two_sizes_plays_at_its_own_size(tmp_path: Path, codec: str) -> None:
    played = two_sizes(tmp_path, codec)
    alone = cv2.VideoCapture(str(tmp_path / f"large.{codec}"), cv2.CAP_FFMPEG)
    opened, large_first = alone.read()
    alone.release()
    assert opened
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    try:
        # When: the file is played through, and on into its loop
        frames = [source.read() for _ in range(3 * FRAMES)]
    finally:
        source.close()
    # Then: the small part, the large part as it is (not squeezed), then the small part again
    assert [frame.shape for frame in frames] == [SMALL] * FRAMES + [LARGE] * FRAMES + [SMALL] * FRAMES
    assert np.array_equal(frames[FRAMES], large_first)


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_a_file_camera_shows_the_second_size_and_the_first_again(tmp_path: Path, codec: str) -> None:
    config = CameraConfig.model_validate({"id": "gate", "url": str(two_sizes(tmp_path, codec))})
    error, _ = camera_shows_in_turn(Camera(config, source_factory(config)), [LARGE, SMALL])
    assert error is None


@pytest.mark.parametrize(
    ("size", "options"),
    [
        ((320, 180), ("-pix_fmt", "yuv420p", "-profile:v", "baseline")),  # cropped at the bottom
        ((200, 150), ("-pix_fmt", "yuv420p")),  # cropped on two sides, high profile
        ((352, 288), ("-pix_fmt", "yuv444p")),  # 4:4:4, its own crop units
        ((352, 288), ("-pix_fmt", "yuv420p", "-flags", "+ildct+ilme")),  # interlaced: fields
    ],
    ids=["baseline", "high", "444", "interlaced"],
)
def test_the_size_a_parameter_set_gives_is_the_picture_size(
    tmp_path: Path, size: tuple[int, int], options: tuple[str, ...]
) -> None:
    data = raw_stream(tmp_path / "clip.h264", *size, *options).read_bytes()
    nal = data.index(b"\x00\x00\x01\x67") + 4  # x264 writes its parameter set first, type 7
    assert h264.sps_size(data[nal : nal + 256]) == size
    decoded = cv2.VideoCapture(str(tmp_path / "clip.h264"), cv2.CAP_FFMPEG)
    opened, frame = decoded.read()
    decoded.release()
    assert opened
    assert frame.shape[1::-1] == size


@pytest.mark.parametrize(
    ("size", "options"),
    [
        ((320, 180), ()),  # cropped at the bottom by its conformance window
        ((200, 150), ("-pix_fmt", "yuv420p")),  # cropped on two sides
        ((352, 288), ("-pix_fmt", "yuv444p")),  # 4:4:4, its own crop units
        ((200, 150), ("-pix_fmt", "yuv422p")),  # 4:2:2
        ((200, 150), ("-x265-params", "log-level=error:temporal-layers=1")),  # a sub-layer's levels
    ],
    ids=["cropped", "two-sides", "444", "422", "sub-layers"],
)
def test_the_size_an_h265_parameter_set_gives_is_the_picture_size(
    tmp_path: Path, size: tuple[int, int], options: tuple[str, ...]
) -> None:
    data = raw_stream(tmp_path / "clip.h265", *size, *options, codec="h265").read_bytes()
    nal = data.index(CODECS["h265"][2]) + 5
    assert h265.sps_size(data[nal : nal + 256]) == size
    decoded = cv2.VideoCapture(str(tmp_path / "clip.h265"), cv2.CAP_FFMPEG)
    opened, frame = decoded.read()
    decoded.release()
    assert opened
    assert frame.shape[1::-1] == size


@pytest.mark.parametrize(
    ("codec", "options"),
    [
        ("h264", ()),
        ("h264", ("-x264-params", "aud=1")),  # each access unit starts with a delimiter
        ("h265", ()),  # its video parameter set comes before the sequence parameter set
        ("h265", ("-x265-params", "log-level=error:aud=1")),
    ],
    ids=["h264", "h264-delimited", "h265", "h265-delimited"],
)
def test_a_raw_stream_is_cut_where_its_size_changes_and_only_there(
    tmp_path: Path, codec: str, options: tuple[str, ...]
) -> None:
    joined = two_sizes(tmp_path, codec, *options)
    small = (tmp_path / f"small.{codec}").stat().st_size
    assert size_segments(joined) == [(0, small), (small, joined.stat().st_size)]
    assert size_segments(tmp_path / f"small.{codec}") is None


def test_an_opencv_that_reads_no_streams_plays_a_file_still_being_scanned_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: an OpenCV before 4.9 (a VideoCapture of a path alone), and a raw stream whose second size
    # lies past the first step of its scan, so that its first part is read as it grows
    an_opencv_that_reads_no_streams(monkeypatch)
    monkeypatch.setattr(elementary, "SCAN_BYTES", 512)
    source = OpenCvSource(str(two_sizes(tmp_path)), open_timeout_s=2, read_timeout_s=1)
    try:
        frames = [source.read() for _ in range(3 * FRAMES)]
    finally:
        source.close()
    # Then: the file plays whole, by its path, every frame at its first size, as that OpenCV can
    assert {frame.shape for frame in frames} == {SMALL}


def test_parts_whose_ends_are_known_are_opened_by_url_not_through_a_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenCV's stream reader keeps memory at each open: a looping file of two parts grew for ever
    readers: list[object] = []
    real = file_range.FileRange.__init__

    def counted(self: file_range.FileRange, *arguments: object) -> None:
        readers.append(self)
        real(self, *arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(file_range.FileRange, "__init__", counted)
    source = OpenCvSource(str(two_sizes(tmp_path)), open_timeout_s=2, read_timeout_s=1)
    try:
        frames = [source.read() for _ in range(4 * FRAMES)]
    finally:
        source.close()
    assert [frame.shape for frame in frames] == ([SMALL] * FRAMES + [LARGE] * FRAMES) * 2
    assert readers == []
