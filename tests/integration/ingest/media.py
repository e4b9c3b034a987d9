"""Test media made with the real ffmpeg, and what playing it through the real OpenCV source and a
camera should show: shared by the file tests of sizes and codecs that change part way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource
from tests.integration.ingest.conftest import wait_until


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True, timeout=60)


def an_opencv_that_reads_no_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV before 4.9: its VideoCapture takes a path (or URL) but no stream to read from."""
    real = cv2.VideoCapture

    def capture(target: object, backend: int, parameters: list[int]) -> cv2.VideoCapture:
        if not isinstance(target, str):
            raise TypeError("VideoCapture() takes a filename or a camera index")
        return real(target, backend, parameters)

    monkeypatch.setattr(cv2, "VideoCapture", capture)


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` as OpenCV decodes the file alone."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        read, frame = capture.read()
        if not read:
            break
        frames.append(np.asarray(frame))
    capture.release()
    return frames


def assert_plays_parts_in_turn(joined: Path, parts: list[Path]) -> None:
    """``joined`` (the ``parts`` byte for byte) plays every part's frames as each decodes alone, in
    turn, and then the first part's first frame again (its loop)."""
    expected = [frame for part in parts for frame in decoded(part)]
    source = OpenCvSource(str(joined), open_timeout_s=2, read_timeout_s=1)
    try:
        frames = [source.read() for _ in range(len(expected) + 1)]
    finally:
        source.close()
    assert all(
        np.array_equal(frame, want) for frame, want in zip(frames, [*expected, expected[0]], strict=True)
    )


def camera_shows_in_turn(camera: Camera, shapes: list[tuple[int, ...]]) -> tuple[str | None, int]:
    """Start ``camera`` and wait for a frame of each of ``shapes`` in turn; its ``last_error`` and
    reconnects once the last is shown (it is stopped)."""
    seen: set[tuple[int, ...]] = set()

    def shown(shape: tuple[int, ...]) -> bool:
        frame = camera.peek_newest()
        if frame is not None:
            seen.add(frame.image.shape)
        return shape in seen

    camera.start()
    try:
        for shape in shapes:
            seen.clear()
            assert wait_until(lambda: shown(shape), 15), (camera.last_error, shape, seen)  # noqa: B023
        return camera.last_error, camera.reconnects
    finally:
        assert camera.stop()
