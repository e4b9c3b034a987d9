"""Which pixels of a picture lie under outlines of normalised (x, y) points: the motion gate's mask,
its shading on the live picture and the config's check that a mask leaves part of the frame are all
this one drawing, so none of them can tell a pixel's fate differently from the others."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

SHIFT = 4
"""Fractional bits of the outlines' vertices when they are drawn (fillPoly's ``shift``)."""


def pixels_under(
    outlines: Sequence[Sequence[tuple[float, float]]], shape: tuple[int, ...]
) -> npt.NDArray[np.bool_]:
    """Which pixels of a picture of ``shape`` lie under any of the outlines."""
    height, width = shape[:2]
    scale = 1 << SHIFT
    raster = np.zeros((height, width), dtype=np.uint8)
    for outline in outlines:
        # Vertices at 1/16 pixel, pixel centres at half steps: an outline drawn on the full frame keeps
        # its place on a small one.
        points = np.array(
            [[round((x * width - 0.5) * scale), round((y * height - 0.5) * scale)] for x, y in outline],
            dtype=np.int32,
        )
        # One outline per call: fillPoly given several fills by the even-odd rule, which left where two
        # outlines overlap unmasked.
        cv2.fillPoly(raster, [points], 1, lineType=cv2.LINE_8, shift=SHIFT)
    return raster.astype(bool)
