"""FFmpeg's own messages stay out of the gateway's stderr: it writes them there itself, past our
logging, with no camera named (some 16 lines a second for a camera on a lossy network). Each run is
a fresh process, since OpenCV reads the level once, at its first FFmpeg open."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

READ_FRAMES = """
import sys
from gateway.ingest.sources import OpenCvSource
source = OpenCvSource(sys.argv[1], open_timeout_s=10, read_timeout_s=10)
for _ in range(60):
    source.read()
source.close()
print("read 60 frames")
"""


@pytest.fixture(scope="module")
def damaged_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw H.264 file with bytes overwritten through its middle: each damaged frame makes FFmpeg
    report its macroblocks ("error while decoding MB")."""
    directory = tmp_path_factory.mktemp("damaged")
    whole = directory / "whole.h264"
    source = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-c:v", "libx264", "-g", "10"]
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *source, "-f", "h264", str(whole)]
    subprocess.run(command, check=True, timeout=30)
    data = bytearray(whole.read_bytes())
    noise = random.Random(1)
    for start in range(len(data) // 4, len(data) * 3 // 4, 997):
        data[start : start + 40] = bytes(noise.randrange(256) for _ in range(40))
    damaged = directory / "damaged.h264"
    damaged.write_bytes(bytes(data))
    return damaged


def read_frames(clip: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    variables = {key: value for key, value in os.environ.items() if key != "OPENCV_FFMPEG_LOGLEVEL"}
    return subprocess.run(
        [sys.executable, "-c", READ_FRAMES, str(clip)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=variables | environment,
    )


def test_ffmpeg_decode_errors_stay_out_of_stderr(damaged_clip: Path) -> None:
    run = read_frames(damaged_clip)
    assert "read 60 frames" in run.stdout
    assert "error while decoding" not in run.stderr + run.stdout, run.stderr[-2000:]


def test_the_operators_own_level_still_shows_them(damaged_clip: Path) -> None:
    # The clip does make FFmpeg report errors: shown when the operator asks for them
    run = read_frames(damaged_clip, OPENCV_FFMPEG_LOGLEVEL="16")
    assert "error while decoding" in run.stdout + run.stderr


OPEN_UNREADABLE = """
import sys
from gateway.errors import SourceError
from gateway.ingest.sources import OpenCvSource
for _ in range(3):
    try:
        OpenCvSource(sys.argv[1], open_timeout_s=10, read_timeout_s=10)
    except SourceError as error:
        print(error)
"""


def open_unreadable(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    unreadable = tmp_path / "clip.mp4"
    unreadable.write_bytes(b"not a video")
    variables = {key: value for key, value in os.environ.items() if key != "OPENCV_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", OPEN_UNREADABLE, str(unreadable)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=variables | environment,
    )


def test_opencvs_own_warning_on_a_failed_open_stays_out_of_stderr(tmp_path: Path) -> None:
    # A camera that is down fails an open at every reconnect: each wrote OpenCV's "backend is
    # generally available but can't be used to capture by name" to stderr, no camera named
    run = open_unreadable(tmp_path)
    assert run.stdout.count("not a readable video") == 3
    assert run.stderr == ""


def test_the_operators_own_opencv_level_still_shows_it(tmp_path: Path) -> None:
    run = open_unreadable(tmp_path, OPENCV_LOG_LEVEL="WARNING")
    assert "can't be used to capture by name" in run.stderr
