"""Image-sequence cameras (``img%03d.png``) whose numbering does not start at 0 to 4, where FFmpeg's
image2 demuxer looks for a first image unless told ``start_number``: made with the real ffmpeg and
read through the real OpenCV source."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.config import CameraConfig
from gateway.errors import SourceError
from gateway.ingest.camera import Camera
from gateway.ingest.ffmpeg_environment import FFMPEG_OPTIONS_VARIABLE
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.conftest import wait_until

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


def played_numbers(pattern: Path, count: int) -> list[int]:
    """The frame numbers of ``count`` frames read from the sequence ``pattern`` (``img%03d.png``):
    each frame is told by the image on disk it equals (testsrc draws every frame differently)."""
    images = {
        int(path.stem.removeprefix("img")): cv2.imread(str(path)) for path in pattern.parent.glob("img*.png")
    }
    source = OpenCvSource(str(pattern), open_timeout_s=2, read_timeout_s=1)
    try:
        frames = [source.read() for _ in range(count)]
    finally:
        source.close()
    return [
        next(number for number, image in images.items() if image is not None and np.array_equal(frame, image))
        for frame in frames
    ]


def test_a_sequence_with_a_gap_in_its_numbering_plays_past_the_gap(tmp_path: Path) -> None:
    # Given: img100.png to img105.png less 102 and 103. FFmpeg's image2 demuxer stops at the first
    # missing number: the camera showed 100 and 101 over and over, never the images past the gap
    pattern = write_sequence(tmp_path, 100)
    for number in (102, 103):
        (tmp_path / f"img{number}.png").unlink()
    # Then: every image is played, in order, and the sequence starts over after its last
    assert played_numbers(pattern, 9) == [100, 101, 104, 105, 100, 101, 104, 105, 100]


def test_an_image_far_past_the_others_is_played_before_the_sequence_starts_over(tmp_path: Path) -> None:
    pattern = write_sequence(tmp_path, 1)
    (tmp_path / "img003.png").rename(tmp_path / "img020.png")
    assert played_numbers(pattern, 7) == [1, 2, 4, 5, 6, 20, 1]


def test_an_unreadable_image_in_a_sequence_is_named(tmp_path: Path) -> None:
    # Given: img102.png emptied (its writer died): the sequence started over before it without a
    # word, and the images past it were never played
    pattern = write_sequence(tmp_path, 100)
    (tmp_path / "img102.png").write_bytes(b"")
    source = OpenCvSource(str(pattern), open_timeout_s=2, read_timeout_s=1)
    try:
        source.read(), source.read()
        with pytest.raises(SourceError) as raised:
            source.read()
    finally:
        source.close()
    assert str(raised.value) == (
        f"{pattern}: cannot read its image {tmp_path / 'img102.png'} (empty, truncated, or not an image?)"
    )


def test_a_camera_on_a_sequence_with_an_unreadable_image_says_which(tmp_path: Path) -> None:
    pattern = write_sequence(tmp_path, 100)
    (tmp_path / "img103.png").write_bytes(b"not a png")
    config = CameraConfig.model_validate({"id": "stills", "url": str(pattern)})
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        named = wait_until(lambda: "img103.png" in (camera.last_error or ""), 10)
    finally:
        assert camera.stop()
    assert named, camera.last_error


@pytest.mark.parametrize("folder", ["100%", "run%d", "a%20b", "%%"])
def test_a_sequence_in_a_folder_with_a_percent_sign_plays(tmp_path: Path, folder: str) -> None:
    # FFmpeg took the folder's '%' for part of the pattern and opened nothing ("is that image
    # empty, truncated, or not an image?")
    (tmp_path / "written").mkdir()
    write_sequence(tmp_path / "written", 1)  # ffmpeg's image2 muxer reads a '%' in it the same way
    (tmp_path / "written").rename(tmp_path / folder)
    pattern = tmp_path / folder / "img%03d.png"
    assert played_numbers(pattern, FRAMES + 1) == [*range(1, FRAMES + 1), 1]
