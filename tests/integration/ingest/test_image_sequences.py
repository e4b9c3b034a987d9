"""Image-sequence cameras (``img%03d.png``) whose numbering does not start at 0 to 4, where FFmpeg's
image2 demuxer looks for a first image unless told ``start_number``: made with the real ffmpeg and
read through the real OpenCV source."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.errors import SourceError
from gateway.ingest.ffmpeg_environment import FFMPEG_OPTIONS_VARIABLE
from gateway.ingest.sources import OpenCvSource

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

FRAMES = 6


def write_sequence(folder: Path, start: int) -> Path:
    """FRAMES 160 x 120 PNGs numbered from ``start`` (img100.png, img101.png, ...); their pattern."""
    pattern = folder / "img%03d.png"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=160x120:rate=25,trim=end_frame={FRAMES}",
            "-start_number",
            str(start),
            str(pattern),
        ],
        check=True,
        timeout=60,
    )
    return pattern


@pytest.mark.parametrize("start", [5, 100, 1000])
def test_a_sequence_numbered_from_past_four_plays_and_loops(tmp_path: Path, start: int) -> None:
    pattern = write_sequence(tmp_path, start)
    # When: read through one pass of the sequence and into the next (it was refused: "not a
    # readable video")
    source = OpenCvSource(str(pattern), open_timeout_s=2, read_timeout_s=1)
    try:
        shapes = {source.read().shape for _ in range(FRAMES + 2)}
    finally:
        source.close()
    assert shapes == {(120, 160, 3)}


def test_a_sequence_the_operators_ffmpeg_options_cannot_open_names_its_first_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: the operator's own FFmpeg options, which win over the gateway's (and so carry no
    # start_number)
    pattern = write_sequence(tmp_path, 100)
    monkeypatch.setenv(FFMPEG_OPTIONS_VARIABLE, "probesize;5000000")
    with pytest.raises(SourceError) as raised:
        OpenCvSource(str(pattern), open_timeout_s=2, read_timeout_s=1)
    assert str(raised.value) == (
        f"cannot open the image sequence {pattern} at its first image, number 100 "
        f"({FFMPEG_OPTIONS_VARIABLE} is set outside the gateway and replaces the start_number;100 it needs)"
    )
