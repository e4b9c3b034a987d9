"""An MPEG transport stream file whose video codec changes part way (``cat h264.ts hevc.ts``, a
recorder that followed a camera from H.264 to H.265), made with the real ffmpeg and played through
the real OpenCV source: each part is decoded by its own codec. FFmpeg took the codec of the last
program map table it probed for the whole file: a short one gave no frame at all, and its camera
said only "cannot read a frame from the file". A codec's part whose picture size changes plays each
size at its own, as a container does (it was played all at its first size, the rest squeezed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.ingest.transport_stream import codec_segments
from tests.integration.ingest.media import assert_plays_parts_in_turn, ffmpeg

FRAMES = 10
ENCODERS = {
    "h264": ["-c:v", "libx264"],
    "h265": ["-c:v", "libx265", "-x265-params", "log-level=error"],
}


def transport_stream(
    path: Path, codec: str, pattern: str, size: str = "320x240", starts_s: float = 0
) -> Path:
    """``FRAMES`` frames of ``pattern`` in ``codec`` at ``size``, the first at ``starts_s``."""
    source = f"{pattern}=size={size}:rate=25,trim=end_frame={FRAMES}"
    ffmpeg("-f", "lavfi", "-i", source, *ENCODERS[codec], "-pix_fmt", "yuv420p",
           "-output_ts_offset", str(starts_s), "-f", "mpegts", str(path))  # fmt: skip
    return path


@pytest.mark.parametrize(("first", "second"), [("h264", "h265"), ("h265", "h264")])
def test_each_codec_of_a_transport_stream_plays_its_part(tmp_path: Path, first: str, second: str) -> None:
    # Given: two recordings of one size, each its own picture, joined byte for byte
    before = transport_stream(tmp_path / "before.ts", first, "testsrc")
    after = transport_stream(tmp_path / "after.ts", second, "smptebars")
    joined = tmp_path / "camera.ts"
    joined.write_bytes(before.read_bytes() + after.read_bytes())
    # When played through and on into its loop, then: the first part's frames, the second part's,
    # and the first part's again
    assert_plays_parts_in_turn(joined, [before, after])


@pytest.mark.parametrize(
    "codecs",
    [("h264", "h264", "h265"), ("h265", "h264", "h264")],
    ids=["first-codec-changes-size", "last-codec-changes-size"],
)
def test_each_size_of_a_codec_of_a_transport_stream_plays_at_its_own(
    tmp_path: Path, codecs: tuple[str, str, str]
) -> None:
    # Given: three recordings joined byte for byte, the codec changing between two, the picture size
    # between the two of one codec (a recorder that followed a camera's new profile), each
    # recording's timestamps starting past the one before's (where they start over, a few frames
    # before the new size are lost, container_sizes.py)
    sizes = ["320x240", "480x272", "320x240"] if codecs[0] == codecs[1] else ["320x240", "320x240", "480x272"]
    patterns = ["testsrc", "smptebars", "rgbtestsrc"]
    parts = [
        transport_stream(tmp_path / f"{index}.ts", codec, pattern, size, index * 2 * FRAMES / 25)
        for index, (codec, pattern, size) in enumerate(zip(codecs, patterns, sizes, strict=True))
    ]
    joined = tmp_path / "camera.ts"
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    assert len(codec_segments(joined) or ()) == 2
    # When played through and on into its loop, then: each recording's frames at its own size (the
    # second size was squeezed into the first), and the first's again
    assert_plays_parts_in_turn(joined, parts)


def test_a_transport_stream_of_one_codec_plays_whole(tmp_path: Path) -> None:
    first = transport_stream(tmp_path / "first.ts", "h264", "testsrc")
    second = transport_stream(tmp_path / "second.ts", "h264", "smptebars")
    joined = tmp_path / "camera.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    assert codec_segments(joined) is None
    assert codec_segments(tmp_path / "missing.ts") is None
