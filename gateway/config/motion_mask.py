"""Whether a camera's motion mask leaves any of the frame for motion to be seen in."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config.fields import Point

COVERAGE_CELLS = 100
"""The frame is judged as a picture this many pixels across and down, the mask drawn on it as the
motion gate draws it: a mask that leaves none of them (1% of the frame each way) covers the frame."""


def leaves_frame_uncovered(polygons: Sequence[Sequence[Point]]) -> bool:
    """Whether some pixel of the judging picture lies outside every polygon."""
    # The audit service reads configs too: OpenCV loaded with them cost it 16 MB of memory.
    from gateway.outline_pixels import pixels_under  # noqa: PLC0415 - OpenCV, only where a mask is checked

    return not bool(pixels_under(polygons, (COVERAGE_CELLS, COVERAGE_CELLS)).all())
