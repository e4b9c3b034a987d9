"""Shrinking a picture: the interpolation that keeps it free of aliasing at the least CPU.

Neutral like ``domain``: it imports nothing of ours, so the motion gate and the live view (ingest)
and the evidence images (delivery) shrink frames alike.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt


def at_most_wide(width: int, height: int, most: int) -> tuple[int, int]:
    """The size of a ``width`` by ``height`` picture at most ``most`` pixels wide, its shape kept."""
    if width <= most:
        return width, height
    return most, max(1, round(height * most / width))


def at_most_long(width: int, height: int, most: int) -> tuple[int, int]:
    """The size of a ``width`` by ``height`` picture at most ``most`` pixels on its longest side, its
    shape kept."""
    factor = most / max(width, height)
    if factor >= 1:
        return width, height
    return max(1, round(width * factor)), max(1, round(height * factor))


def shrunk(image: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """``image`` resized to ``width`` by ``height``, no larger than it is; always a new array."""
    # OpenCV's area averaging is fast only at a whole ratio, and fastest at 2: a 2688x1520 frame to
    # 1280x724 (2.1) took 20 to 23 ms of CPU, to the motion gate's 160x90 12 ms, and even a 4K
    # frame's whole 3 took 11 to 17 ms. Halving while 2x or more is left (an even crop first, at
    # most one pixel off an edge) takes 2 to 5 ms, its picture within a PSNR of 35 to 52 dB of the
    # one resize's (bench/frame_shrink.py).
    original = image
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        half_height, half_width = image.shape[0] // 2, image.shape[1] // 2
        even = image[: 2 * half_height, : 2 * half_width]
        image = cast(
            npt.NDArray[np.uint8],
            cv2.resize(even, (half_width, half_height), interpolation=cv2.INTER_AREA),
        )
    if image.shape[:2] == (height, width):
        return image if image is not original else image.copy()
    # Below 2x, bilinear samples every source pixel anyway and matches INTER_AREA's result (PSNR
    # 47 dB on a 1080p scene) at a third of its CPU (1.5 vs 4.6 ms for 1080p -> 720p, whose 1.5
    # ratio takes OpenCV's slow area path); from 2x on (on one side only, a shape not kept), only
    # area averaging avoids aliasing (a 4K frame sampled down to 720p shimmered).
    interpolation = (
        cv2.INTER_AREA if image.shape[1] >= 2 * width or image.shape[0] >= 2 * height else cv2.INTER_LINEAR
    )
    return cast(npt.NDArray[np.uint8], cv2.resize(image, (width, height), interpolation=interpolation))
