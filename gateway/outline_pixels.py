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

Outlines = Sequence[Sequence[tuple[float, float]]]


def fill_outlines(
    picture: npt.NDArray[np.uint8], outlines: Outlines, colour: float | tuple[float, ...]
) -> None:
    """Paint the pixels of ``picture`` under any of the outlines in ``colour``, in place."""
    for outline in outlines:
        # One outline per call: fillPoly given several fills by the even-odd rule, which left where two
        # outlines overlap unmasked.
        cv2.fillPoly(picture, [vertices(outline, picture.shape)], colour, lineType=cv2.LINE_8, shift=SHIFT)


def vertices(outline: Sequence[tuple[float, float]], shape: tuple[int, ...]) -> npt.NDArray[np.int32]:
    """An outline's vertices on a picture of ``shape``, in OpenCV's fixed point of ``SHIFT`` bits (for
    its drawing functions' ``shift``)."""
    height, width = shape[:2]
    scale = 1 << SHIFT
    # At 1/16 pixel, pixel centres at half steps: an outline drawn on the full frame keeps its place on
    # a small one.
    return np.array(
        [[round((x * width - 0.5) * scale), round((y * height - 0.5) * scale)] for x, y in outline],
        dtype=np.int32,
    )


def pixels_under(outlines: Outlines, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """Which pixels of a picture of ``shape`` lie under any of the outlines."""
    raster = np.zeros(shape[:2], dtype=np.uint8)
    fill_outlines(raster, outlines, 1)
    return raster.astype(bool)
