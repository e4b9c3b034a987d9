"""A raw stream file whose codec changes part way (a recorder that followed a camera from H.264 to
H.265, or back: ``cat before.h264 after.h265``), made with the real ffmpeg and played through the
real OpenCV source: each part is decoded by its own codec. FFmpeg decoded the whole file with the
first part's decoder, which found no picture in the second part: the camera played the first part
over and over and never showed the second."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.ingest.elementary import size_segments
from tests.integration.ingest.media import assert_plays_parts_in_turn, ffmpeg

FRAMES = 10
ENCODERS = {
    "h264": (["-c:v", "libx264"], "h264"),
    "h265": (["-c:v", "libx265", "-x265-params", "log-level=error"], "hevc"),
}


def raw_stream(path: Path, codec: str, pattern: str) -> Path:
    encoder, raw_format = ENCODERS[codec]
    source = f"{pattern}=size=320x240:rate=25,trim=end_frame={FRAMES}"
    ffmpeg("-f", "lavfi", "-i", source, *encoder, "-pix_fmt", "yuv420p", "-f", raw_format, str(path))
    return path


@pytest.mark.parametrize(("first", "second"), [("h264", "h265"), ("h265", "h264")])
def test_each_codec_of_a_raw_file_plays_its_part(tmp_path: Path, first: str, second: str) -> None:
    # Given: two parts of one size, each its own picture, one after the other in one file
    before = raw_stream(tmp_path / f"before.{first}", first, "testsrc")
    after = raw_stream(tmp_path / f"after.{second}", second, "smptebars")
    joined = tmp_path / "camera.raw"
    joined.write_bytes(before.read_bytes() + after.read_bytes())
    assert size_segments(joined) == [
        (0, before.stat().st_size),
        (before.stat().st_size, joined.stat().st_size),
    ]
    # When played through and on into its loop, then: the first part's frames, the second part's,
    # and the first part's again
    assert_plays_parts_in_turn(joined, [before, after])
