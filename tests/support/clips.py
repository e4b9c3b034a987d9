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


def write_raw_i420(frames: Sequence[Image], path: Path, fps: int = FPS) -> str:
    """Write frames as raw I420 and return the RTSP server's mount spec for them."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as file:
        for frame in frames:
            file.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return f"raw:{path}:{width}x{height}:{fps}"


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


HEAD_IMAGE = Path(__file__).resolve().parents[2] / "build" / "models" / "astronaut_head.png"
FACE_IN_HEAD = (38, 63, 139, 160)
"""The face inside the head image, in its pixels: where face-detector draws its box."""
CROSSING_SIZE = (640, 360)
CROSSING_FPS = 10
CROSSING_LOOP_S = 12.0


def crossing_clip() -> tuple[list[Image], list[tuple[float, str]]]:
    """One 12 s loop at 640x360 and 10 fps in which a face walks left to right across the middle
    (x = 0.5) from 1 s to 5 s, then another walks right to left from 6 s to 10 s. Returns the frames
    and the crossings as (seconds into the loop when the face box's bottom-centre reaches x = 0.5,
    "in" for left to right, "out" for right to left)."""
    width, height = CROSSING_SIZE
    head = cv2.imread(str(HEAD_IMAGE), cv2.IMREAD_COLOR)
    if head is None:
        raise FileNotFoundError(HEAD_IMAGE)
    mask = np.zeros(head.shape[:2], dtype=np.float32)
    cv2.ellipse(mask, (head.shape[1] // 2, head.shape[0] // 2), (84, 106), 0, 0, 360, 1.0, -1)
    alpha = np.asarray(cv2.GaussianBlur(mask, (0, 0), 4), dtype=np.float32)[..., np.newaxis]
    scene = cv2.resize(_scene(width // 2, height // 2), (width, height)).astype(np.float32)
    face_centre = (FACE_IN_HEAD[0] + FACE_IN_HEAD[2]) / 2
    walks = [(1.0, 5.0, 20, 440), (6.0, 10.0, 440, 20)]  # (from s, to s, head left px at start and end)
    rng = np.random.default_rng(12)
    frames = []
    for index in range(round(CROSSING_LOOP_S * CROSSING_FPS)):
        t = index / CROSSING_FPS
        canvas = scene.copy()
        for start, end, left_from, left_to in walks:
            if start <= t < end:
                left = round(left_from + (left_to - left_from) * (t - start) / (end - start))
                target = canvas[70 : 70 + head.shape[0], left : left + head.shape[1]]
                target[:] = target * (1 - alpha) + head.astype(np.float32) * alpha
        canvas += rng.normal(0, 2.0, canvas.shape).astype(np.float32)
        frames.append(np.clip(canvas, 0, 255).astype(np.uint8))
    crossings = []
    for start, end, left_from, left_to in walks:
        # When the face's centre column passes the middle of the frame.
        fraction = (width / 2 - face_centre - left_from) / (left_to - left_from)
        crossings.append((start + fraction * (end - start), "in" if left_to > left_from else "out"))
    return frames, crossings
