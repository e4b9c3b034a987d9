"""Scripted video clips with known content, written as raw I420 (for the RTSP server) or MP4 files.

Every clip is a list of BGR frames built with numpy, so a test knows exactly which frames carry an
event and can check where they land in time after encode, RTSP and decode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from gateway.domain import Image

WIDTH = 320
HEIGHT = 240
FPS = 25
EVENT_VALUE = 255
BACKGROUND_VALUE = 40


def _scene(width: int, height: int) -> Image:
    """A fixed textured scene: gradients, so an encoder has something to keep and motion is visible."""
    columns = np.linspace(20, 120, width, dtype=np.float32)
    rows = np.linspace(0, 60, height, dtype=np.float32)[:, None]
    grey = (columns[None, :] * 0.5 + rows).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def static_clip(length: int = 50, width: int = WIDTH, height: int = HEIGHT) -> list[Image]:
    scene = _scene(width, height)
    return [scene.copy() for _ in range(length)]


def event_clip(
    length: int = 50, event: range = range(25, 38), width: int = WIDTH, height: int = HEIGHT
) -> list[Image]:
    """A dark static scene; on the frames in ``event`` a bright square fills the centre quarter."""
    frames = []
    for index in range(length):
        frame = np.full((height, width, 3), BACKGROUND_VALUE, dtype=np.uint8)
        if index in event:
            frame[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = EVENT_VALUE
        frames.append(frame)
    return frames


def moving_clip(length: int = 50, width: int = WIDTH, height: int = HEIGHT) -> list[Image]:
    """A bright square crossing the scene, moving every frame."""
    scene = _scene(width, height)
    side = height // 4
    frames = []
    for index in range(length):
        frame = scene.copy()
        x = int((width - side) * (index / max(length - 1, 1)))
        frame[height // 2 - side // 2 : height // 2 + side // 2, x : x + side] = 230
        frames.append(frame)
    return frames


def is_event_frame(image: Image) -> bool:
    """True when the centre of ``image`` shows the event square (robust to codec noise)."""
    height, width = image.shape[:2]
    centre = image[height // 2 - 8 : height // 2 + 8, width // 2 - 8 : width // 2 + 8]
    return float(centre.mean()) > (EVENT_VALUE + BACKGROUND_VALUE) / 2


def write_raw_i420(frames: Sequence[Image], path: Path) -> str:
    """Write frames as raw I420 and return the RTSP server's mount spec for them."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as file:
        for frame in frames:
            file.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return f"raw:{path}:{width}x{height}:{FPS}"


def write_mp4(frames: Sequence[Image], path: Path, fps: int = FPS) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path
