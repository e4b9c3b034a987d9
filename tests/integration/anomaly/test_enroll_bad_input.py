"""``edge-gateway enroll`` given bad input: each case ends with a clear error naming the problem and a
non-zero exit, never a traceback, and never leaves a version (or half of one) in the repository.

The camera streams are real files made with the ffmpeg command; the options that used to make
enrollment run forever are tried on the real command in a child process, with a timeout."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.cli import main
from gateway.enroll import enroll_frames, frames_from_folder, image_paths
from gateway.errors import SourceError
from tests.support.child_limits import interruptible

from .conftest import ScriptedClip

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

COMMAND_TIMEOUT_S = 60.0


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True, timeout=30)


def enroll_arguments(config_file: Path, *source: str) -> list[str]:
    return ["enroll", "--camera", "yard", *source, "--config", str(config_file)]


def model_dir(config_file: Path) -> Path:
    return config_file.parent / "models" / "scene-anomaly-yard"


def versions_written(config_file: Path) -> list[str]:
    directory = model_dir(config_file)
    if not directory.is_dir():
        return []
    return sorted(entry.name for entry in directory.iterdir() if entry.name != "model.yaml")


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e9", "0", "-1"])
def test_seconds_that_never_end_or_mean_nothing_are_refused_at_once(seconds: str, config_file: Path) -> None:
    # Given a camera whose stream is a real video file, which loops forever
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=10:duration=2", "-pix_fmt", "yuv420p",
           str(config_file.parent / "yard.mp4"))  # fmt: skip

    # When enrollment is asked for that many seconds (nan and inf never compared as reached)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *enroll_arguments(config_file, "--seconds", seconds)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )

    # Then the option is named, before the stream is opened
    assert result.returncode == 2
    assert "argument --seconds: must be above 0 and at most 86400" in result.stderr
    assert "stream open" not in result.stderr
    assert not versions_written(config_file)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("one-frame video", "needs at least 10 different frames, got 10 frames of which 1 differ"),
        ("image as the camera", "needs at least 10 different frames, got 10 frames of which 1 differ"),
        ("1x1 video", "frame 1 is 1x1 pixels; enrollment needs at least 32x18"),
    ],
)
def test_a_stream_with_nothing_to_learn_is_refused(
    case: str, message: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a camera whose file holds one picture (it loops, so every sampled frame is a copy), or
    # frames too small to hold a scene
    stream = config_file.parent / "yard.mp4"
    if case == "one-frame video":
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=10", "-frames:v", "1", "-pix_fmt", "yuv420p",
               str(stream))  # fmt: skip
    elif case == "image as the camera":
        # a PNG under the video's name: FFmpeg opens it as a video of one frame
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180", "-frames:v", "1", "-c:v", "png", "-f", "image2",
               str(stream))  # fmt: skip
    else:
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=3", "-vf", "scale=1:1",
               "-c:v", "rawvideo", "-pix_fmt", "bgr24", "-f", "avi", str(stream))  # fmt: skip

    # When 2 seconds are enrolled at the camera's 5 fps
    code = main(["enroll", "--camera", "yard", "--seconds", "2", "--config", str(config_file)])

    # Then enrollment names the problem and writes nothing
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert not versions_written(config_file)


def test_a_folder_of_copies_of_one_image_is_refused(
    config_file: Path, tmp_path: Path, scripted_clip: ScriptedClip, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "copies"
    folder.mkdir()
    for index in range(12):
        assert cv2.imwrite(str(folder / f"{index:04d}.png"), scripted_clip.normal[0])

    code = main(["enroll", "--camera", "yard", "--frames", str(folder), "--config", str(config_file)])

    assert code == 2
    assert "got 12 frames of which 1 differ" in capsys.readouterr().err
    assert not versions_written(config_file)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims ``width`` x ``height`` pixels: a decompression bomb's header, no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (1 + width * 3))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_an_image_over_the_decoder_limit_is_named(
    config_file: Path, frames_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the folder also holds an image that claims 2.5 billion pixels (OpenCV 5 raises on it)
    _png_header_only(frames_dir / "9999.png", 50_000, 50_000)

    code = main(["enroll", "--camera", "yard", "--frames", str(frames_dir), "--config", str(config_file)])

    err = capsys.readouterr().err
    assert code == 2
    assert f"{frames_dir / '9999.png'} is 50000 x 50000 pixels, over the 50 million" in err
    assert not versions_written(config_file)


def test_an_image_under_the_decoder_limit_but_over_detect_s_is_refused_from_its_header(
    tmp_path: Path,
) -> None:
    # Given a photo whose header declares 8000 x 7000 pixels (OpenCV would decode it: 168 MB)
    folder = tmp_path / "photos"
    folder.mkdir()
    _png_header_only(folder / "0001.png", 8000, 7000)

    # Then it is refused by its size before anything is decoded
    with pytest.raises(SourceError, match=r"0001\.png is 8000 x 7000 pixels, over the 50 million"):
        next(frames_from_folder(image_paths(folder)))


def test_a_folder_is_read_one_image_at_a_time(tmp_path: Path) -> None:
    # Given a folder of two photos, the second of them damaged
    folder = tmp_path / "photos"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "0001.jpg"), np.full((30, 40, 3), 90, np.uint8))
    (folder / "0002.jpg").write_bytes(b"\xff\xd8 not the rest of a JPEG")

    # When enrollment takes the folder's frames
    frames = frames_from_folder(image_paths(folder))

    # Then each image is read only when taken (a folder of large photos is never held at full size
    # all at once): the first comes whole, and the damaged second fails only when its turn comes
    assert next(frames).shape == (30, 40, 3)
    with pytest.raises(SourceError, match=r"0002\.jpg is not a readable image"):
        next(frames)


@pytest.mark.parametrize("obstacle", ["repository under a file", "model directory is a file"])
def test_an_unwritable_repository_fails_before_the_stream_is_read(
    obstacle: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a repository that cannot hold the model (root may write anywhere: a file in the way)
    if obstacle == "repository under a file":
        (config_file.parent / "models").write_bytes(b"")
        blocked = config_file.parent / "models"
    else:
        model_dir(config_file).parent.mkdir()
        model_dir(config_file).write_bytes(b"")
        blocked = model_dir(config_file)
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=10:duration=2", "-pix_fmt", "yuv420p",
           str(config_file.parent / "yard.mp4"))  # fmt: skip

    # When a stream enrollment starts
    code = main(["enroll", "--camera", "yard", "--seconds", "30", "--config", str(config_file)])

    # Then it stops at once (the stream is never opened), naming what is in the way
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: cannot write {model_dir(config_file)}: {blocked} is not a directory" in err
    assert "stream open" not in err


def test_a_file_in_the_way_of_the_next_version_is_named(
    config_file: Path, frames_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["enroll", "--camera", "yard", "--frames", str(frames_dir), "--config", str(config_file)]
    assert main(arguments) == 0
    (model_dir(config_file) / "2").write_bytes(b"")
    capsys.readouterr()

    assert main(arguments) == 1

    assert f"{model_dir(config_file) / '2'} is in the way of version 2" in capsys.readouterr().err
    assert versions_written(config_file) == ["1", "2"]
    assert (model_dir(config_file) / "2").is_file()


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_022")
def test_the_written_model_follows_the_umask(config_file: Path, frames_dir: Path) -> None:
    # An enrollment run by another user than the service's (root, say) must stay readable by it.
    arguments = ["enroll", "--camera", "yard", "--frames", str(frames_dir), "--config", str(config_file)]
    assert main(arguments) == 0
    directory = model_dir(config_file)
    modes = {name: (directory / name).stat().st_mode & 0o777 for name in ("model.yaml", "1", "1/model.onnx")}
    assert modes == {"model.yaml": 0o644, "1": 0o755, "1/model.onnx": 0o644}


@pytest.mark.parametrize("interrupted_write", [1, 2], ids=["model.yaml", "version"])
def test_an_interrupt_while_writing_leaves_no_staging_behind(
    interrupted_write: int, tmp_path: Path, scripted_clip: ScriptedClip, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Ctrl-C arrives while the model.yaml or the version is being written (at its fsync)
    real_fsync = os.fsync
    calls = []

    def interrupted_fsync(descriptor: int) -> None:
        calls.append(descriptor)
        if len(calls) == interrupted_write:
            raise KeyboardInterrupt
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", interrupted_fsync)

    # When enrollment is interrupted
    with pytest.raises(KeyboardInterrupt):
        enroll_frames(list(scripted_clip.normal), camera_id="yard", repository=tmp_path / "models")

    # Then no hidden staging file or directory is left, and no version
    left = sorted(entry.name for entry in (tmp_path / "models" / "scene-anomaly-yard").iterdir())
    assert left == ([] if interrupted_write == 1 else ["model.yaml"])


def test_ctrl_c_while_the_stream_is_read_says_so_and_writes_nothing(config_file: Path) -> None:
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=10:duration=2", "-pix_fmt", "yuv420p",
           str(config_file.parent / "yard.mp4"))  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *enroll_arguments(config_file, "--seconds", "60")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,  # noqa: PLW1509 (signal.signal takes no lock)
    )
    try:
        # When Ctrl-C arrives once the stream is open
        assert process.stderr is not None
        seen = ""
        while "stream open" not in seen:
            line = process.stderr.readline()
            assert line, f"ended before the stream opened: {seen}"
            seen += line
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        process.kill()

    # Then it exits 130, says it was interrupted, and no version exists
    assert process.returncode == 130
    assert "edge-gateway enroll: interrupted" in err
    assert "Traceback" not in err
    assert out == ""
    assert not versions_written(config_file)
