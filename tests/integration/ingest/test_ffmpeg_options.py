"""The FFmpeg options of a network stream (a 32-byte probe) are process-wide in OpenCV: files opened
after a camera stream must still be probed as files, with real ffmpeg-made files and the real RTSP
server."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.ingest.sources import OpenCvSource
from tests.support.rtsp_server import RtspServer

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

IDR_SLICE = 5
NON_IDR_SLICE = 1


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True, timeout=30)


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A raw H.264 file that starts between keyframes (a recorder's dump cut at a random point) and
    an MPEG-TS file at 25 fps."""
    directory = tmp_path_factory.mktemp("options")
    whole, cut, transport = directory / "whole.h264", directory / "cut.h264", directory / "clip.ts"
    source = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-c:v", "libx264"]
    ffmpeg(*source, "-g", "25", "-bf", "0", "-f", "h264", str(whole))
    ffmpeg(*source, "-f", "mpegts", str(transport))
    data = whole.read_bytes()
    # NAL units by their start codes: cut at a P slice a few frames before the second keyframe.
    units = [(match.end(), data[match.end()] & 0x1F) for match in re.finditer(b"\x00\x00\x01", data)]
    second_idr = [offset for offset, kind in units if kind == IDR_SLICE][1]
    slices_before = [offset for offset, kind in units if kind == NON_IDR_SLICE and offset < second_idr]
    cut.write_bytes(data[slices_before[-5] - 3 :])
    return cut, transport


@pytest.fixture
def after_a_stream() -> Iterator[None]:
    """A camera stream opened first, as in a gateway whose RTSP camera started before its file one."""
    with RtspServer({"pattern": "pattern"}) as server:
        OpenCvSource(server.url("pattern"), open_timeout_s=5, read_timeout_s=2).close()
        yield


@pytest.mark.usefixtures("after_a_stream")
def test_a_raw_file_starting_between_keyframes_opens_after_a_stream_did(odd_files: tuple[Path, Path]) -> None:
    cut, _ = odd_files
    source = OpenCvSource(str(cut), open_timeout_s=2, read_timeout_s=1)
    try:
        # When: frames are read from the file (a 32-byte probe found no picture size in it: no frame).
        shapes = {source.read().shape for _ in range(10)}
    finally:
        source.close()
    # Then: it decodes from its first keyframe on.
    assert shapes == {(240, 320, 3)}


@pytest.mark.usefixtures("after_a_stream")
def test_an_mpeg_ts_file_keeps_its_frame_rate_after_a_stream_opened(odd_files: tuple[Path, Path]) -> None:
    _, transport = odd_files
    source = OpenCvSource(str(transport), open_timeout_s=2, read_timeout_s=1)
    source.close()
    # Then: it plays at 25 fps (a 32-byte probe reported 50, and the file played twice as fast).
    assert source.nominal_fps == 25.0
