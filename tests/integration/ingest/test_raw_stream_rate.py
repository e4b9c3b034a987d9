"""A raw H.264 or H.265 file (Annex B, no container) plays at the frame rate its sequence parameter
set gives in its video usability information, made with the real ffmpeg and played through the real
OpenCV source. FFmpeg's raw demuxers do not read it: every raw file played at 25 fps, a 10 fps
recording 2.5 times too fast (its loiter and stationary rules timed on the wrong clock)."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import pytest

from gateway.ingest.elementary import stream_rate
from gateway.ingest.sources import OpenCvSource
from tests.integration.ingest.media import ffmpeg

FRAMES = 10
CODECS = {"h264": "h264", "h265": "hevc"}  # each codec's raw format


def raw_stream(path: Path, codec: str, rate: str, size: str = "320x240", x265: str = "") -> Path:
    """FRAMES frames of ffmpeg's test pattern at ``rate`` fps as a raw stream of ``codec``; ``x265``
    adds libx265's options."""
    encoder = (
        ["-c:v", "libx264"]
        if codec == "h264"
        else ["-c:v", "libx265", "-x265-params", f"log-level=error{x265}"]
    )
    source = f"testsrc=size={size}:rate={rate},trim=end_frame={FRAMES}"
    ffmpeg("-f", "lavfi", "-i", source, *encoder, "-pix_fmt", "yuv420p", "-f", CODECS[codec], str(path))
    return path


@pytest.mark.parametrize("rate", ["10", "30000/1001", "50", "1/5"])
@pytest.mark.parametrize("codec", sorted(CODECS))
def test_a_raw_stream_is_given_the_rate_its_parameter_sets_give(
    tmp_path: Path, codec: str, rate: str
) -> None:
    played = raw_stream(tmp_path / f"camera.{codec}", codec, rate)
    assert stream_rate(played) == pytest.approx(float(Fraction(rate)))
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=10)
    try:
        assert source.nominal_fps == pytest.approx(float(Fraction(rate)))
    finally:
        source.close()


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_a_10_fps_raw_stream_plays_ten_frames_a_second(tmp_path: Path, codec: str) -> None:
    played = raw_stream(tmp_path / f"camera.{codec}", codec, "10")
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    try:
        source.read()
        started = time.monotonic()
        for _ in range(FRAMES - 1):
            source.read()
        took = time.monotonic() - started
    finally:
        source.close()
    # Then: nine intervals of 0.1 s, not of 0.04 s (0.36 s); a slower machine can only take longer
    assert took >= 0.8, took


def test_each_part_of_a_raw_file_of_two_sizes_plays_at_its_own_rate(tmp_path: Path) -> None:
    # Given: a recorder that followed a camera from a 10 fps profile to a 50 fps one of another size
    played = tmp_path / "camera.h264"
    parts = [
        raw_stream(tmp_path / "slow.h264", "h264", "10", "320x240"),
        raw_stream(tmp_path / "fast.h264", "h264", "50", "480x272"),
    ]
    played.write_bytes(b"".join(part.read_bytes() for part in parts))
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    try:
        # When: it plays through its first part and into its second, and on into its loop
        seen = []
        for _ in range(3 * FRAMES):
            seen.append((source.read().shape, source.nominal_fps))
    finally:
        source.close()
    # Then: each part at the rate its own parameter sets give
    slow, fast = ((240, 320, 3), 10.0), ((272, 480, 3), 50.0)
    assert seen == [slow] * FRAMES + [fast] * FRAMES + [slow] * FRAMES


def test_a_raw_stream_that_gives_no_rate_plays_at_ffmpegs_25(tmp_path: Path) -> None:
    played = raw_stream(tmp_path / "camera.h265", "h265", "10", x265=":vui-timing-info=0")
    assert stream_rate(played) is None
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    try:
        assert source.nominal_fps == 25.0
    finally:
        source.close()


def test_a_container_is_left_the_rate_ffmpeg_reads(tmp_path: Path) -> None:
    played = tmp_path / "camera.mp4"
    source_filter = f"testsrc=size=320x240:rate=10,trim=end_frame={FRAMES}"
    ffmpeg("-f", "lavfi", "-i", source_filter, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(played))
    assert stream_rate(played) is None
