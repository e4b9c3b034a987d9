"""The live picture of a camera: its newest frame with the latest detections (and their track ids and
paths), zones, counting lines (with their ``in`` arrow) and motion mask (shaded) drawn, as JPEG."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from gateway.config import LineConfig, Point, ZoneConfig
from gateway.domain import Detection, Image
from gateway.errors import SourceError
from gateway.image_shrink import at_most_long, shrunk
from gateway.outline_pixels import SHIFT, fill_outlines, pixels_under, vertices

ZONE_COLOUR = (255, 200, 0)
LINE_COLOUR = (60, 60, 255)
BOX_COLOUR = (0, 200, 255)
PATH_COLOUR = (0, 140, 255)
"""A tracked object's path: the box's orange, darker, so the box stays the thing to look at."""
MOTION_COLOUR = (255, 0, 255)
"""Where the motion gate saw change, outlined when asked for: a colour no other mark uses."""
MASK_COLOUR = (128, 128, 128)
MASK_EDGE_COLOUR = (230, 230, 230)
MASK_OPACITY = 0.6
"""How much of a masked pixel is MASK_COLOUR: enough to tell at a glance, not to hide what is there."""
MASK_LABEL = "no motion"
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
JPEG_QUALITY = 85
ARROW_LENGTH = 0.08
"""The ``in`` arrow's length, as a share of the frame's smaller side."""
LABEL_BACKDROP_SHIFT = 2
"""The picture under a label is darkened to a quarter (its bits shifted right by this): yellow letters
straight on a lit wall or a bright sky could hardly be read; the scene still shows through."""
TRACK_DIGITS = 4
"""A track's id is drawn by its last digits: ids are 13 digits (the millisecond a camera's tracking
started, counted up, so none is ever reused) and took half of a small picture's width; tracks on
the screen together differ in their last few. Alerts and the events page carry the whole id."""
MARKS_DRAWN_FOR = 1280
"""The longest side the marks' sizes (lines, letters) are set for: on a larger frame, which a screen
shows shrunk as much more, they grow in proportion (a 4K camera's labels came out 3 pixels high on
a page 900 pixels wide, its boxes' edges under a pixel)."""


def draw_snapshot(
    image: Image,
    detections: Sequence[Detection],
    zones: Sequence[ZoneConfig],
    lines: Sequence[LineConfig] = (),
    *,
    quality: int = JPEG_QUALITY,
    motion_mask: Sequence[Sequence[Point]] = (),
    paths: Sequence[Sequence[Point]] = (),
    motion: npt.NDArray[np.bool_] | None = None,
    longest_side: int | None = None,
) -> bytes:
    """``motion``: the motion gate's changed pixels, at its own small size, to outline (to tune its
    settings and mask by); ``longest_side``: the frame scaled down, before the marks are drawn, to at
    most that many pixels on its longest side (never up)."""
    canvas = _scaled_down(image, longest_side) if longest_side is not None else image.copy()
    height, width = canvas.shape[:2]
    unit = max(1.0, max(width, height) / MARKS_DRAWN_FOR)
    if motion_mask:
        _shade(canvas, motion_mask, unit)
    if motion is not None:
        _outline_motion(canvas, motion, unit)
    for zone in zones:
        points = _pixels(zone.polygon, width, height)
        cv2.polylines(canvas, [points], isClosed=True, color=ZONE_COLOUR, thickness=_size(2, unit))
        corner = (int(points[0][0]) + _size(4, unit), int(points[0][1]) + _size(16, unit))
        _label(canvas, zone.name, corner, ZONE_COLOUR, unit)
    for line in lines:
        _draw_line(canvas, line, unit)
    for path in paths:
        points = _pixels(path, width, height)
        cv2.polylines(canvas, [points], False, PATH_COLOUR, _size(2, unit), lineType=cv2.LINE_AA)
    for detection in detections:
        label = f"{detection.label} {detection.score:.2f}"
        if detection.track_id is not None:
            label = f"{track_tag(detection.track_id)} {label}"
        if detection.box is None:
            corner = (_size(8, unit), height - _size(10, unit))
            _label(canvas, label, corner, BOX_COLOUR, unit, scale=0.6, thickness=2)
            continue
        x1, y1, x2, y2 = detection.box
        top_left = (round(x1 * width), round(y1 * height))
        bottom_right = (round(x2 * width), round(y2 * height))
        cv2.rectangle(canvas, top_left, bottom_right, BOX_COLOUR, _size(2, unit))
        _label(canvas, label, (top_left[0], top_left[1] - _size(4, unit)), BOX_COLOUR, unit)
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SourceError("could not encode the snapshot as JPEG")
    return bytes(encoded.tobytes())


def track_tag(track_id: int) -> str:
    """``#`` and the id's last ``TRACK_DIGITS`` digits (an id that short whole)."""
    if track_id < 10**TRACK_DIGITS:
        return f"#{track_id}"
    return f"#{track_id % 10**TRACK_DIGITS:0{TRACK_DIGITS}d}"


def _scaled_down(image: Image, longest_side: int) -> Image:
    """A copy of ``image`` at most ``longest_side`` pixels on its longest side, its shape kept."""
    height, width = image.shape[:2]
    size = at_most_long(width, height, longest_side)
    if size == (width, height):
        return cast(Image, image.copy())
    return shrunk(image, *size)


def _size(pixels: int, unit: float) -> int:
    """A mark's size of ``pixels`` on a frame of ``MARKS_DRAWN_FOR`` pixels, on one ``unit`` times larger."""
    return round(pixels * unit)


def _shade(canvas: Image, outlines: Sequence[Sequence[Point]], unit: float) -> None:
    """The mask shaded as the motion gate draws it; each outline's edge and name on top."""
    height, width = canvas.shape[:2]
    shaded = canvas.copy()
    fill_outlines(shaded, outlines, MASK_COLOUR)
    cv2.addWeighted(shaded, MASK_OPACITY, canvas, 1 - MASK_OPACITY, 0, dst=canvas)
    for outline in outlines:
        # Its edge on the filled pixels' edge, at the fill's sub-pixel vertices; one pixel wide on any
        # frame, as a wider one would lie on watched pixels too.
        edge = vertices(outline, canvas.shape)
        cv2.polylines(canvas, [edge], True, MASK_EDGE_COLOUR, 1, lineType=cv2.LINE_8, shift=SHIFT)
        corner = _mask_label_corner(tuple((x, y) for x, y in outline), height, width, unit)
        if corner is None:
            x, y = _pixel(outline[0], width, height)
            corner = (x + _size(4, unit), y + _size(16, unit))
        _label(canvas, MASK_LABEL, corner, MASK_EDGE_COLOUR, unit, backdrop=False)


@lru_cache(maxsize=64)
def _mask_label_corner(
    outline: tuple[Point, ...], height: int, width: int, unit: float
) -> tuple[int, int] | None:
    """Where ``MASK_LABEL``'s baseline starts for the label to lie whole inside ``outline``, clear of
    its edge: the topmost, then leftmost, such place; None where it fits nowhere. Put at the first
    vertex, it crossed the edge out onto watched pixels wherever the outline ran left or up from
    there. Kept per outline and frame size, which only a reload changes, as the search reads every
    pixel: 2 to 4 ms at 720p, 25 to 45 ms at 4K, for every picture drawn."""
    scale, thickness = _letters(unit)
    (text_width, text_height), descent = cv2.getTextSize(MASK_LABEL, LABEL_FONT, scale, thickness)
    margin = _size(4, unit)
    box = np.ones((text_height + descent + 2 * margin, text_width + 2 * margin), dtype=np.uint8)
    under = pixels_under([outline], (height, width)).astype(np.uint8)
    # Anchored at the box's top left corner: a pixel stays set where the box from it is all inside.
    fits = cv2.erode(under, box, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    first = int(np.argmax(fits))
    if not fits.flat[first]:
        return None
    row, column = divmod(first, width)
    return column + margin, row + margin + text_height


def _pixels(points: Sequence[Point], width: int, height: int) -> npt.NDArray[np.int32]:
    """Normalised (x, y) points as the pixel points of a picture ``width`` by ``height``."""
    return np.array([_pixel(point, width, height) for point in points], dtype=np.int32)


def _outline_motion(canvas: Image, changed: npt.NDArray[np.bool_], unit: float) -> None:
    height, width = canvas.shape[:2]
    contours, _ = cv2.findContours(changed.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return
    # Traced on the gate's small map, through its pixels' centres, and scaled: not a finer guess.
    scale = np.array([width / changed.shape[1], height / changed.shape[0]])
    scaled = [np.round((contour + 0.5) * scale).astype(np.int32) for contour in contours]
    cv2.polylines(canvas, scaled, isClosed=True, color=MOTION_COLOUR, thickness=_size(2, unit))


def _label(
    canvas: Image,
    text: str,
    at: tuple[int, int],
    colour: tuple[int, int, int],
    unit: float,
    *,
    scale: float = 0.5,
    thickness: int = 1,
    backdrop: bool = True,
) -> None:
    """``text`` with its baseline starting at ``at``, moved in as far as it takes to be read whole (a
    box at the frame's right edge had its label cut after a few letters), over the picture darkened
    unless ``backdrop`` is off (the mask's label, on its own shading, which says what it covers).
    ``scale`` and ``thickness``: the letters' on a frame of ``MARKS_DRAWN_FOR`` pixels."""
    height, width = canvas.shape[:2]
    scale, thickness = _letters(unit, scale, thickness)
    (text_width, text_height), descent = cv2.getTextSize(text, LABEL_FONT, scale, thickness)
    x = max(0, min(at[0], width - text_width - 1))
    y = max(text_height + 1, min(at[1], height - descent - 1))
    if backdrop:
        margin = _size(2, unit)
        under = canvas[
            max(0, y - text_height - margin) : min(height, y + descent + margin),
            max(0, x - margin) : min(width, x + text_width + margin),
        ]
        np.right_shift(under, LABEL_BACKDROP_SHIFT, out=under)
    cv2.putText(canvas, text, (x, y), LABEL_FONT, scale, colour, thickness, cv2.LINE_AA)


def _letters(unit: float, scale: float = 0.5, thickness: int = 1) -> tuple[float, int]:
    """The letters' scale and thickness on a frame ``unit`` times ``MARKS_DRAWN_FOR``, given theirs there."""
    return scale * unit, _size(thickness, unit)


def in_arrow(line: LineConfig, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The ``in`` arrow's start (the segment's middle) and tip, in the pixels of a picture ``width``
    by ``height``: along ``in_direction`` in pixels, ``ARROW_LENGTH`` of the picture's smaller side
    long. The console's editor draws its own arrow over the picture's, alike."""
    start, end = (_pixel(point, width, height) for point in line.points)
    dx, dy = line.in_direction[0] * width, line.in_direction[1] * height
    norm = float(np.hypot(dx, dy)) or 1.0
    length = ARROW_LENGTH * min(width, height)
    middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)
    return middle, (round(middle[0] + dx / norm * length), round(middle[1] + dy / norm * length))


def _pixel(point: Point, width: int, height: int) -> tuple[int, int]:
    return round(point[0] * width), round(point[1] * height)


def _draw_line(canvas: Image, line: LineConfig, unit: float) -> None:
    height, width = canvas.shape[:2]
    start, end = (_pixel(point, width, height) for point in line.points)
    cv2.line(canvas, start, end, LINE_COLOUR, _size(2, unit), cv2.LINE_AA)
    middle, tip = in_arrow(line, width, height)
    cv2.arrowedLine(canvas, middle, tip, LINE_COLOUR, _size(2, unit), cv2.LINE_AA, tipLength=0.3)
    gap = _size(4, unit)
    _label(canvas, f"{line.name} in", (tip[0] + gap, tip[1] + gap), LINE_COLOUR, unit)
