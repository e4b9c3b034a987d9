"""The live picture's labels stay whole inside the frame, wherever their object or shape lies."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.config import ZoneConfig
from gateway.domain import Detection
from gateway.ingest.snapshot import LABEL_FONT, MASK_OPACITY, draw_snapshot, track_tag
from gateway.outline_pixels import pixels_under

WIDTH, HEIGHT = 640, 360
LONG_LABEL = "#1621 FACE_FEMALE 0.78"


def drawn(
    detections: list[Detection], zones: list[ZoneConfig] | None = None, *, width: int = WIDTH
) -> npt.NDArray[np.uint8]:
    black = np.zeros((HEIGHT, width, 3), dtype=np.uint8)
    jpeg = draw_snapshot(black, detections, zones or [], quality=100)
    picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return picture.astype(np.uint8)


def box_coloured(picture: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Pixels of the boxes' orange (BGR 0, 200, 255), JPEG's blur allowed for."""
    blue, green, red = picture[..., 0], picture[..., 1], picture[..., 2]
    return (red > 150) & (green > 100) & (blue < 100)


def masked_grey(outlines: list[list[tuple[float, float]]]) -> npt.NDArray[np.uint8]:
    """The snapshot of a grey frame (50) with ``outlines`` as its motion mask, in grey."""
    grey = np.full((HEIGHT, WIDTH, 3), 50, dtype=np.uint8)
    jpeg = draw_snapshot(grey, [], [], motion_mask=outlines, quality=100)
    picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture is not None
    return picture.astype(np.uint8)


def text_width(text: str, scale: float = 0.5, thickness: int = 1) -> int:
    (width, _), _ = cv2.getTextSize(text, LABEL_FONT, scale, thickness)
    return int(width)


def test_a_label_of_a_box_at_the_right_edge_moves_left_to_be_read_whole() -> None:
    box_top = round(0.4 * HEIGHT)
    picture = drawn([Detection("FACE_FEMALE", 0.78, (0.9, 0.4, 1.0, 0.6), track_id=1796482161621)])

    band = box_coloured(picture[box_top - 16 : box_top - 3])
    columns = np.flatnonzero(band.any(axis=0))
    assert columns.size, "no label above the box"
    expected_start = WIDTH - text_width(LONG_LABEL) - 1
    # Starting at the box (x 576) it ran past the frame's edge after about a quarter of its letters.
    assert expected_start - 3 <= columns[0] <= expected_start + 3
    assert columns[0] < round(0.9 * WIDTH) - 100


def test_a_label_of_a_box_at_the_top_edge_is_drawn_inside_the_frame() -> None:
    picture = drawn([Detection("person", 0.9, (0.1, 0.0, 0.3, 0.5))])

    # The box's left side runs down from the top; the label's letters lie right of it, in the rows
    # where a label above a box at y 0 would have been cut off.
    letters = box_coloured(picture[2:12, round(0.1 * WIDTH) + 4 : round(0.3 * WIDTH) - 4])
    assert letters.sum() > 20


def test_a_frame_level_label_as_wide_as_the_frame_is_read_whole() -> None:
    label = "scene_anomaly 0.93"
    width = text_width(label, scale=0.6, thickness=2) + 1
    # Drawn from x 8, its last letter was cut by the right edge.
    picture = drawn([Detection("scene_anomaly", 0.93, None)], width=width)

    columns = np.flatnonzero(box_coloured(picture[HEIGHT - 30 :]).any(axis=0))
    assert columns[0] <= 2


def test_a_zone_name_at_the_bottom_right_corner_is_read_whole() -> None:
    corner = ZoneConfig(name="loading_bay_door", polygon=[(0.95, 0.95), (1.0, 0.95), (1.0, 1.0)])
    picture = drawn([], [corner])

    blue, green, red = picture[..., 0], picture[..., 1], picture[..., 2]
    zone_coloured = (blue > 150) & (green > 120) & (red < 100)
    # The outline is the 32 rightmost columns; every column left of it is the name's.
    columns = np.flatnonzero(zone_coloured.any(axis=0))
    assert columns[0] <= WIDTH - text_width("loading_bay_door") + 2
    rows = np.flatnonzero(zone_coloured[:, : columns[0] + 40].any(axis=1))
    assert rows[-1] < HEIGHT - 1, "the name's letters are cut by the bottom edge"


def test_a_tracked_objects_path_is_drawn_to_its_box() -> None:
    black = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    box = (0.55, 0.5, 0.65, 0.8)
    path = [(0.1, 0.8), (0.3, 0.8), (0.6, 0.8)]
    jpeg = draw_snapshot(black, [Detection("person", 0.9, box, track_id=4)], [], paths=[path], quality=100)
    picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None

    row = picture[round(0.8 * HEIGHT)]
    blue, green, red = row[:, 0].astype(int), row[:, 1].astype(int), row[:, 2].astype(int)
    path_coloured = (red > 150) & (green > 80) & (green < 180) & (blue < 100)
    # Along the bottom row of the path, from where the object was to where its box stands now.
    assert path_coloured[round(0.12 * WIDTH) : round(0.5 * WIDTH)].all()
    assert not path_coloured[: round(0.09 * WIDTH)].any()


def test_the_motion_gates_changed_pixels_are_outlined_where_they_lie_when_asked_for() -> None:
    black = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    changed = np.zeros((90, 160), dtype=bool)
    changed[30:60, 40:80] = True  # x 0.25-0.5, y 0.33-0.67
    plain = draw_snapshot(black, [], [], quality=100)
    outlined = draw_snapshot(black, [], [], motion=changed, quality=100)

    picture = cv2.imdecode(np.frombuffer(outlined, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    blue, green, red = picture[..., 0].astype(int), picture[..., 1].astype(int), picture[..., 2].astype(int)
    magenta = (blue > 150) & (red > 150) & (green < 100)
    rows, columns = np.nonzero(magenta)
    assert abs(columns.min() - 0.25 * WIDTH) <= 5
    assert abs(columns.max() - 0.5 * WIDTH) <= 5
    assert abs(rows.min() - HEIGHT / 3) <= 5
    assert abs(rows.max() - 2 * HEIGHT / 3) <= 5
    inside = magenta[round(HEIGHT / 2), round(0.3 * WIDTH) : round(0.45 * WIDTH)]
    assert not inside.any(), "outlined, not filled"
    assert plain != outlined


def test_the_shaded_mask_is_the_pixels_the_motion_gate_ignores_overlaps_included() -> None:
    # Two outlines over each other: the overlap was left unshaded, as the gate left it unmasked.
    overlapping = [
        [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)],
        [(0.25, 0.0), (0.75, 0.0), (0.75, 1.0), (0.25, 1.0)],
    ]
    picture = masked_grey(overlapping)
    shaded = round(50 * (1 - MASK_OPACITY) + 128 * MASK_OPACITY)
    row = picture[HEIGHT // 2].astype(int)
    # Each outline's edge is drawn over the shading: judged a few pixels clear of the edges.
    for left, right, level in (
        (0.0, 0.25, shaded),
        (0.25, 0.5, shaded),
        (0.5, 0.75, shaded),
        (0.75, 1.0, 50),
    ):
        part = row[round(left * WIDTH) + 4 : round(right * WIDTH) - 4]
        assert np.abs(part - level).max() <= 3, (left, right)


def test_a_mask_outlines_edge_is_drawn_on_its_shaded_pixels_not_beside_them() -> None:
    # A slanted outline whose corners fall past half a pixel (531.6, 133.7 and 262.7, 313.7): its edge
    # was drawn through the rounded pixel points while the gate fills at sub-pixel vertices, so 271 of
    # its 915 pixels lay outside the mask, on pixels the gate watches.
    triangle = [[(0.2, 0.2), (0.8307, 0.3715), (0.4105, 0.8715)]]
    picture = masked_grey(triangle)
    outside = ~pixels_under(triangle, (HEIGHT, WIDTH))
    # The edge and the label (230 over the background's 50) judged past JPEG's blur.
    edge_like = picture > 140
    assert edge_like[~outside].sum() > 500
    assert not (edge_like & outside).any(), np.argwhere(edge_like & outside)[:5].tolist()


def test_a_masks_label_lies_inside_it_clear_of_its_edge() -> None:
    # Outlined from its top right corner, leftwards: the label, put at the first vertex, lay wholly
    # outside the mask, over watched pixels.
    corner_first = [[(0.9, 0.1), (0.5, 0.1), (0.5, 0.5), (0.9, 0.5)]]
    picture = masked_grey(corner_first)
    inside = pixels_under(corner_first, (HEIGHT, WIDTH))
    # Inside, two pixels clear of the edge: the letters alone are bright.
    core = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    letters = (picture > 140) & core
    assert letters.sum() > 50
    rows, columns = np.nonzero(letters)
    # At the top left.
    assert rows.max() < 0.1 * HEIGHT + 30
    assert columns.min() < 0.5 * WIDTH + 30
    assert not ((picture > 140) & ~inside).any()


def test_a_mask_too_small_for_its_label_is_labelled_at_its_first_corner() -> None:
    small = [[(0.5, 0.5), (0.52, 0.5), (0.52, 0.52), (0.5, 0.52)]]
    picture = masked_grey(small)
    rows, columns = np.nonzero(picture > 140)
    # The corner's edge (pixels 0.5-0.52 of the frame) and the letters to its right and below.
    assert columns.max() > 0.52 * WIDTH + 30
    assert rows.max() > 0.52 * HEIGHT


def decoded_shape(jpeg: bytes) -> tuple[int, int]:
    picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return picture.shape[1], picture.shape[0]


@pytest.mark.parametrize(
    ("size", "scaled"),
    [
        ((3840, 2160), (1280, 720)),
        ((2160, 3840), (720, 1280)),
        ((1920, 1080), (1280, 720)),
        ((2688, 1520), (1280, 724)),
        ((1280, 720), (1280, 720)),
        ((640, 360), (640, 360)),
    ],
)
def test_a_frame_is_scaled_down_to_its_longest_side_keeping_its_shape_never_up(
    size: tuple[int, int], scaled: tuple[int, int]
) -> None:
    width, height = size
    black = np.zeros((height, width, 3), dtype=np.uint8)
    box = (0.25, 0.5, 0.5, 0.9)
    jpeg = draw_snapshot(black, [Detection("person", 0.9, box)], [], quality=100, longest_side=1280)
    assert decoded_shape(jpeg) == scaled
    assert decoded_shape(draw_snapshot(black, [], [])) == size
    # The marks are drawn on the picture shrunk, at its size: the box where it was, edges 2 px wide.
    picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    coloured = box_coloured(picture.astype(np.uint8))
    columns = np.flatnonzero(coloured[round(0.7 * scaled[1])])
    assert abs(columns.min() - 0.25 * scaled[0]) <= 2
    assert columns[columns < 0.375 * scaled[0]].size <= 3


def test_a_4k_frames_marks_grow_with_it_to_be_read_as_shrunk_on_a_screen() -> None:
    # Drawn at the sizes set for 1280 pixels on a 3840 x 2160 frame, which a page shows at a quarter
    # of that or less, a box's edge came out under a pixel wide and its label 3 pixels high.
    box = (0.25, 0.5, 0.5, 0.9)

    def box_marks(width: int, height: int) -> tuple[int, int]:
        """The box's left edge's width and its label's height, in the frame's pixels."""
        black = np.zeros((height, width, 3), dtype=np.uint8)
        jpeg = draw_snapshot(black, [Detection("person", 0.9, box, track_id=7)], [], quality=100)
        picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None
        coloured = box_coloured(picture.astype(np.uint8))
        middle_row = coloured[round(0.7 * height)]
        edge = np.flatnonzero(middle_row[: round(0.375 * width)])
        above = coloured[: round(0.5 * height) - 1, round(0.25 * width) : round(0.5 * width)]
        rows = np.flatnonzero(above.any(axis=1))
        return int(edge.size), int(rows[-1] - rows[0] + 1)

    edge_hd, label_hd = box_marks(1280, 720)
    edge_4k, label_4k = box_marks(3840, 2160)
    # Three times the frame, three times the marks (an edge 2 pixels wide is 3 after JPEG's blur, 6 is 7).
    assert edge_4k >= 2 * edge_hd, (edge_hd, edge_4k)
    assert 2.5 * label_hd <= label_4k <= 3.5 * label_hd, (label_hd, label_4k)


@pytest.mark.parametrize(
    ("track_id", "tag"),
    [(4, "#4"), (9999, "#9999"), (10_000, "#0000"), (1796482161621, "#1621"), (1796482160042, "#0042")],
)
def test_a_track_is_tagged_by_its_ids_last_four_digits(track_id: int, tag: str) -> None:
    assert track_tag(track_id) == tag


def test_a_label_on_a_white_wall_is_drawn_over_the_wall_darkened() -> None:
    white = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    jpeg = draw_snapshot(white, [Detection("person", 0.9, (0.4, 0.5, 0.6, 0.9), track_id=7)], [], quality=100)
    decoded = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    picture = decoded.astype(np.uint8)
    box_top, box_left = round(0.5 * HEIGHT), round(0.4 * WIDTH)
    label = picture[box_top - 16 : box_top - 4, box_left : box_left + text_width("#7 person 0.90")]
    # The letters, in the boxes' orange, on a wall darkened to a quarter under them: no longer white
    assert box_coloured(label).sum() > 30
    assert np.median(label) < 100, np.median(label)
    # and the wall beside the label left as it was.
    assert picture[box_top - 16 : box_top - 4, : box_left - 10].min() > 240
