"""File cameras pointed at something that is no video (an empty file, a link loop, a pipe, a stream
none of whose frames decodes), through the real OpenCV source and camera reader: the camera fails
with a reason naming what is there, and keeps retrying (a recorder may be about to write the file)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.ingest.camera import Camera
from gateway.ingest.sources import source_factory
from tests.integration.ingest.conftest import wait_until
from tests.integration.ingest.media import ffmpeg


def failure_of(path: Path) -> tuple[CameraState, str | None]:
    config = CameraConfig.model_validate({"id": "stills", "url": str(path), "reconnect_min_s": 0.1})
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        wait_until(lambda: camera.state is CameraState.FAILED and camera.last_error is not None, 10)
        return camera.state, camera.last_error
    finally:
        assert camera.stop()


def test_an_empty_file_is_named_empty(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert failure_of(tmp_path / "clip.mp4") == (
        CameraState.FAILED,
        f"not a readable video: {tmp_path / 'clip.mp4'} is empty (0 bytes)",
    )


def test_a_symbolic_link_loop_is_named(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").symlink_to(tmp_path / "clip.mp4")
    assert failure_of(tmp_path / "clip.mp4") == (
        CameraState.FAILED,
        f"{tmp_path / 'clip.mp4'} goes through a symbolic link that leads back to itself (a link loop)",
    )


def test_a_pipe_is_refused_without_blocking_the_reader(tmp_path: Path) -> None:
    # Opening a FIFO for reading blocks until a writer comes: the reader must never open one
    os.mkfifo(tmp_path / "camera.mp4")
    assert failure_of(tmp_path / "camera.mp4") == (
        CameraState.FAILED,
        f"{tmp_path / 'camera.mp4'} is not a regular file (a device or a pipe), not a video file",
    )


def test_a_pipe_among_a_sequences_images_is_refused_without_blocking_the_reader(tmp_path: Path) -> None:
    # Given: img002.png a FIFO between two images. FFmpeg opened it as the next image and the
    # reader blocked there for good: no frame, no error, and a camera that could not be stopped
    frame = cv2.imencode(".png", np.zeros((120, 160, 3), dtype=np.uint8))[1].tobytes()
    (tmp_path / "img001.png").write_bytes(frame)
    os.mkfifo(tmp_path / "img002.png")
    (tmp_path / "img003.png").write_bytes(frame)
    assert failure_of(tmp_path / "img%03d.png") == (
        CameraState.FAILED,
        f"{tmp_path / 'img002.png'} is not a regular file (a directory, a device or a pipe), not an "
        f"image: the sequence {tmp_path / 'img%03d.png'} cannot be played",
    )


def test_a_stream_none_of_whose_frames_decodes_is_named_with_its_codec(tmp_path: Path) -> None:
    # Given: an H.264 stream whose picture parameter sets were damaged into filler, so that no slice
    # decodes. The file opens; its camera said only "cannot read a frame from the file"
    whole = tmp_path / "whole.h264"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x90:rate=10",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-g",
        "5",
        str(whole),
    )
    stream = whole.read_bytes()
    assert stream.count(b"\x00\x00\x01\x68") > 0
    (tmp_path / "camera.h264").write_bytes(stream.replace(b"\x00\x00\x01\x68", b"\x00\x00\x01\x6c"))
    assert failure_of(tmp_path / "camera.h264") == (
        CameraState.FAILED,
        f"not a readable video: {tmp_path / 'camera.h264'}: no frame of its H.264 video could be decoded "
        "(damaged data?)",
    )
