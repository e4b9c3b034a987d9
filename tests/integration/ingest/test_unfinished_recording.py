"""A file camera pointed at an MP4 that is still being recorded, made with the real ffmpeg: its media
data is there, its index (the moov box, written when the recording stops) is not. OpenCV cannot open
it, and it was reported as "empty, truncated, or no video stream", as if the file were broken; it is
named as a recording not finished yet, and the camera plays it once it is."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gateway.config import CameraConfig
from gateway.errors import SourceError
from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.conftest import wait_until
from tests.integration.ingest.media import ffmpeg


def recording(folder: Path) -> bytes:
    """A finished MP4 recording, its index at its end as a recorder writes it when it stops."""
    path = folder / "finished.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25,trim=end_frame=100", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    data = path.read_bytes()
    assert data.find(b"mdat") < data.find(b"moov")
    return data


def test_an_mp4_still_being_recorded_is_named_so(tmp_path: Path) -> None:
    finished = recording(tmp_path)
    growing = tmp_path / "camera.mp4"
    growing.write_bytes(finished[: finished.find(b"moov") // 2])
    with pytest.raises(SourceError) as raised:
        OpenCvSource(str(growing), open_timeout_s=2, read_timeout_s=1)
    assert str(raised.value) == (
        f"not a readable video yet: {growing} is an MP4 with media data but no index (moov box) yet: "
        "a recording still being written (it plays once the recording ends), or one whose recorder was "
        "killed before finishing it"
    )


def test_a_file_camera_plays_a_recording_once_it_is_finished(tmp_path: Path) -> None:
    # Given: a camera on a recording not finished yet
    finished = recording(tmp_path)
    growing = tmp_path / "camera.mp4"
    growing.write_bytes(finished[: finished.find(b"moov") // 2])
    config = CameraConfig.model_validate(
        {"id": "gate", "url": str(growing), "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}
    )
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        assert wait_until(lambda: "no index (moov box) yet" in (camera.last_error or ""), 15)
        # When: the recording ends
        growing.write_bytes(finished)
        # Then: the camera plays it, its problem past
        assert wait_until(lambda: camera.frames_in > 0, 15), camera.last_error
        assert wait_until(lambda: camera.last_error is None, 15), camera.last_error
    finally:
        assert camera.stop()


def test_an_mp4_with_nothing_recorded_yet_is_named_so(tmp_path: Path) -> None:
    finished = recording(tmp_path)
    started = tmp_path / "camera.mp4"
    started.write_bytes(finished[: finished.find(b"mdat") - 4])  # the file type box alone
    with pytest.raises(SourceError, match="neither media data nor an index"):
        OpenCvSource(str(started), open_timeout_s=2, read_timeout_s=1)


def test_a_recording_cut_inside_its_64_bit_media_header_is_named_and_played_once_finished(
    tmp_path: Path,
) -> None:
    # Given: a camera on a recording cut inside its mdat's header, a recorder's that writes 64-bit box
    # sizes (a size of 1, then the size itself: a recording expected to pass 4 GiB)
    finished = recording(tmp_path)
    growing = tmp_path / "camera.mp4"
    growing.write_bytes(finished[: finished.find(b"mdat") - 4] + struct.pack(">I4s", 1, b"mdat") + b"\0\0")
    config = CameraConfig.model_validate(
        {"id": "gate", "url": str(growing), "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}
    )
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        # Then: it is named, not a crash of the camera's reader
        assert wait_until(lambda: "neither media data nor an index" in (camera.last_error or ""), 15), (
            camera.last_error
        )
        # When: the recording ends
        growing.write_bytes(finished)
        # Then: the camera, still trying, plays it
        assert wait_until(lambda: camera.frames_in > 0, 15), camera.last_error
    finally:
        assert camera.stop()


def with_box_size(data: bytes, kind: bytes, size: int) -> bytes:
    """``data`` with the 32-bit size of its first ``kind`` box set to ``size``."""
    at = data.find(kind) - 4
    return data[:at] + struct.pack(">I", size) + data[at + 4 :]


def test_a_finished_mp4_whose_media_box_says_too_many_bytes_is_named_damaged_not_unfinished(
    tmp_path: Path,
) -> None:
    # Given a finished recording whose mdat box's size the disk damaged (2 GiB, past the file's end):
    # it was named a recording still being written, and waited for
    finished = recording(tmp_path)
    damaged = tmp_path / "camera.mp4"
    damaged.write_bytes(with_box_size(finished, b"mdat", 0x7FFFFFFF))
    with pytest.raises(SourceError) as raised:
        OpenCvSource(str(damaged), open_timeout_s=2, read_timeout_s=1)
    assert str(raised.value) == (
        f"not a readable video: {damaged} is a damaged MP4: a box's size is wrong (its boxes run past "
        f"the file's end, over its index, the moov box at byte {finished.find(b'moov') - 4:,})"
    )


def test_a_finished_mp4_whose_box_leads_to_no_box_is_named_damaged(tmp_path: Path) -> None:
    # Given a finished recording whose free box's size (8) was damaged to 9, so that no box starts
    # where it says it ends
    finished = recording(tmp_path)
    damaged = tmp_path / "camera.mp4"
    damaged.write_bytes(with_box_size(finished, b"free", 9))
    with pytest.raises(SourceError) as raised:
        OpenCvSource(str(damaged), open_timeout_s=2, read_timeout_s=1)
    assert str(raised.value) == (
        f"not a readable video: {damaged} is a damaged MP4: a box's size is wrong (its boxes lead to "
        f"byte {finished.find(b'free') - 4 + 9:,}, where no box starts)"
    )
