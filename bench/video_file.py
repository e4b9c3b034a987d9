"""Generated frames as a file a gateway camera can play: FFV1 in Matroska, which is lossless (decoded
frames are bit-identical to the generated ones) and carries the clip's frame rate."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


def write_lossless(
    frames: Iterable[npt.NDArray[np.uint8]], path: Path, fps: float, size: tuple[int, int]
) -> int:
    """``frames`` (BGR, ``size`` = (width, height)) written to ``path``; returns how many."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"FFV1"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write FFV1 video to {path}")
    count = 0
    try:
        for frame in frames:
            writer.write(frame)
            count += 1
    finally:
        writer.release()
    return count
