"""A file camera's file replaced, rewritten or removed while it plays, made with the real ffmpeg and
read through the real OpenCV source: the camera plays what is at the path now, never on from a
deleted file (its disk space held) that no one can see."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.errors import SourceError
from gateway.ingest.sources import OpenCvSource

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

FRAMES = 8
READS = 4 * FRAMES
"""Reads allowed for a change to show: the loop comes after FRAMES of them."""


def clip(path: Path, width: int, height: int, fps: int = 100) -> Path:
    """FRAMES frames at ``fps`` (at 100, the source plays them 10 ms apart)."""
    source = f"testsrc=size={width}x{height}:rate={fps},trim=end_frame={FRAMES}"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-c:v",
            "libx264",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def read_all(source: OpenCvSource) -> None:
    for _ in range(READS):
        source.read()


def test_a_file_replaced_while_it_plays_is_played_anew_from_its_next_loop(tmp_path: Path) -> None:
    playing = clip(tmp_path / "camera.mp4", 160, 120)
    source = OpenCvSource(str(playing), open_timeout_s=2, read_timeout_s=1)
    try:
        assert source.read().shape == (120, 160, 3)
        # When: another clip is moved into its place, as a deploy or a rotation does
        os.replace(clip(tmp_path / "next.mp4", 320, 240, fps=50), playing)
        shapes = [source.read().shape for _ in range(READS)]
        rate = source.nominal_fps
    finally:
        source.close()
    # Then: the rest of the old clip, then the new one, whose frames are 320 x 240, at its own rate
    assert shapes[-1] == (240, 320, 3), shapes
    assert rate == 50


def test_a_file_rewritten_in_place_is_played_anew(tmp_path: Path) -> None:
    playing = clip(tmp_path / "camera.mp4", 160, 120)
    source = OpenCvSource(str(playing), open_timeout_s=2, read_timeout_s=1)
    try:
        source.read()
        playing.write_bytes(clip(tmp_path / "next.mp4", 320, 240).read_bytes())
        shapes = [source.read().shape for _ in range(READS)]
    finally:
        source.close()
    assert shapes[-1] == (240, 320, 3), shapes


def test_a_file_removed_while_it_plays_fails_the_source_at_its_loop(tmp_path: Path) -> None:
    playing = clip(tmp_path / "camera.mp4", 160, 120)
    source = OpenCvSource(str(playing), open_timeout_s=2, read_timeout_s=1)
    try:
        source.read()
        playing.unlink()
        with pytest.raises(SourceError) as raised:
            read_all(source)
    finally:
        source.close()
    assert str(raised.value) == f"{playing}: the file was removed while it played"
