"""Image-sequence cameras (``img%03d.png``) whose numbering does not start at 0 to 4, where FFmpeg's
image2 demuxer looks for a first image unless told ``start_number``: made with the real ffmpeg and
read through the real OpenCV source."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

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


def played_numbers(pattern: Path, count: int, url: str | None = None) -> list[int]:
    """The frame numbers of ``count`` frames read from the sequence ``pattern`` (``img%03d.png``),
    named by ``url`` if given: each frame is told by the image on disk it equals (testsrc draws every
    frame differently)."""
    images = {
        int(path.stem.removeprefix("img")): cv2.imread(str(path)) for path in pattern.parent.glob("img*.png")
    }
    source = OpenCvSource(url or str(pattern), open_timeout_s=2, read_timeout_s=1)
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


@pytest.mark.parametrize("folder", ["100%", "run%d", "a%20b", "%%", "x%03d"])
def test_a_file_url_of_a_sequence_in_a_folder_with_a_percent_sign_plays(tmp_path: Path, folder: str) -> None:
    # Given: the folder's '%' written %25, as a file URL writes it. Decoded whole, the pattern's
    # %03 became the character 0x03; as written, the folder was "100%25": neither opened.
    (tmp_path / "written").mkdir()
    write_sequence(tmp_path / "written", 1)
    (tmp_path / "written").rename(tmp_path / folder)
    pattern = tmp_path / folder / "img%03d.png"
    escaped_folder = "file://" + quote(str(tmp_path / folder))
    # Then: the frame number in the last segment is the pattern, a %25 anywhere a literal '%'
    for url in (f"{escaped_folder}/img%03d.png", pattern.as_uri()):
        assert played_numbers(pattern, FRAMES + 1, url) == [*range(1, FRAMES + 1), 1], url


def test_a_file_url_of_a_sequence_with_a_percent_sign_in_its_file_names_plays(tmp_path: Path) -> None:
    # Given: images named "50%-001.png"...: a literal '%' beside the frame number in the last segment
    write_sequence(tmp_path, 1)
    for image in tmp_path.glob("img*.png"):
        image.rename(tmp_path / image.name.replace("img", "img50%-"))
    url = f"file://{quote(str(tmp_path))}/img50%25-%03d.png"
    source = OpenCvSource(url, open_timeout_s=2, read_timeout_s=1)
    try:
        shapes = {source.read().shape for _ in range(FRAMES + 1)}
    finally:
        source.close()
    assert shapes == {(120, 160, 3)}


UNLISTABLE_CHILD = r"""
import ctypes, json, os, sys, time
from pathlib import Path

if os.geteuid() == 0:
    # Root reads a folder whatever its mode, by CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. Without
    # them (a process may always drop its own) the mode holds, as for the service's own user.
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    sets = (ctypes.c_uint32 * 6)()  # (effective, permitted, inheritable) of capabilities 0-31, 32-63
    if libc.capget(header, sets) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for index in (0, 1):
        sets[index] &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(header, sets) != 0:
        raise OSError(ctypes.get_errno(), "capset")

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.ingest.camera import Camera
from gateway.ingest.sources import source_factory

def wait_until(condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()

pattern = Path(sys.argv[1])
config = CameraConfig.model_validate(
    {"id": "stills", "url": str(pattern), "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
)
camera = Camera(config, source_factory(config))
camera.start()
result = {}
try:
    result["streamed"] = wait_until(lambda: camera.state is CameraState.STREAMING, 10)
    # The folder stays searchable but can no longer be listed (chmod 100), while the camera plays.
    pattern.parent.chmod(0o100)
    try:
        wait_until(lambda: "cannot list" in (camera.last_error or "") or not camera.reader_alive, 10)
        result["error"] = camera.last_error
        result["alive_while_denied"] = camera.reader_alive
    finally:
        pattern.parent.chmod(0o755)
    frames = camera.frames_in
    result["recovered"] = wait_until(
        lambda: camera.state is CameraState.STREAMING and camera.frames_in > frames, 10
    )
finally:
    result["stopped"] = camera.stop()
print(json.dumps(result))
"""


def test_a_sequence_whose_folder_cannot_be_listed_is_named_retried_and_recovers(tmp_path: Path) -> None:
    # Given: a camera playing a sequence whose folder becomes unlistable. os.scandir's PermissionError
    # ended its reader thread ("internal error in the camera reader"), for good.
    pattern = write_sequence(tmp_path, 1)
    child = subprocess.run(
        [sys.executable, "-c", UNLISTABLE_CHILD, str(pattern)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=Path(__file__).parents[3],
        check=False,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.splitlines()[-1])
    # Then: the camera names the folder and why, keeps retrying, and plays again once it is readable.
    assert result == {
        "streamed": True,
        "error": f"cannot list the folder {tmp_path} of the image sequence {pattern}: Permission denied",
        "alive_while_denied": True,
        "recovered": True,
        "stopped": True,
    }


def test_each_image_of_a_sequence_of_mixed_sizes_plays_at_its_own_size(tmp_path: Path) -> None:
    # Given: three 160x120 images, then three 320x180 (the camera's profile changed to 16:9). FFmpeg
    # scaled the later ones to the first one's size, squeezing each 16:9 picture into 4:3.
    write_sequence(tmp_path, 1)
    for number in range(4, FRAMES + 1):
        (tmp_path / f"img{number:03d}.png").unlink()
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi"),
            *("-i", "testsrc=size=320x180:rate=25,trim=end_frame=3"),
            *("-start_number", "4", str(tmp_path / "img%03d.png")),
        ],
        check=True,
        timeout=60,
    )
    source = OpenCvSource(str(tmp_path / "img%03d.png"), open_timeout_s=2, read_timeout_s=1)
    try:
        frames = [source.read() for _ in range(FRAMES + 1)]
    finally:
        source.close()
    # Then: every frame is its image as it is on disk, and the loop starts over at the first size
    on_disk = []
    for number in [*range(1, FRAMES + 1), 1]:
        image = cv2.imread(str(tmp_path / f"img{number:03d}.png"))
        assert image is not None
        on_disk.append(image)
    assert [frame.shape for frame in frames] == [image.shape for image in on_disk]
    assert all(np.array_equal(frame, image) for frame, image in zip(frames, on_disk, strict=True))
