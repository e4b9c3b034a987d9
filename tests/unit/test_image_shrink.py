from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.image_shrink import at_most_long, at_most_wide, shrunk


def checkerboard(width: int, height: int) -> npt.NDArray[np.uint8]:
    """One-pixel squares, black and white: the pattern that aliases wherever pixels are skipped."""
    rows, columns = np.indices((height, width))
    board = np.where((rows + columns) % 2 == 0, 255, 0).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def smooth_scene(width: int, height: int) -> npt.NDArray[np.uint8]:
    rows, columns = np.indices((height, width), dtype=np.float32)
    red = 128 + 100 * np.sin(columns / width * 7) * np.cos(rows / height * 5)
    green = 255 * columns / width
    blue = 255 * rows / height
    return np.stack([blue, green, red], axis=2).astype(np.uint8)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((3840, 2160), (1280, 720)),
        ((2688, 1520), (1280, 724)),
        ((2689, 1521), (1280, 724)),
        ((1920, 1080), (1280, 720)),
        ((2560, 1440), (1280, 720)),
        ((3840, 2160), (160, 90)),
        ((704, 576), (160, 131)),
        ((3, 3), (1, 1)),
        ((1000, 10), (100, 10)),
    ],
)
def test_the_picture_comes_out_at_the_size_asked_for(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    colour = shrunk(smooth_scene(*source), *target)
    assert colour.shape == (target[1], target[0], 3)
    assert colour.dtype == np.uint8
    grey = shrunk(np.zeros((source[1], source[0]), dtype=np.uint8), *target)
    assert grey.shape == (target[1], target[0])
    with_alpha = shrunk(np.zeros((source[1], source[0], 4), dtype=np.uint8), *target)
    assert with_alpha.shape == (target[1], target[0], 4)


@pytest.mark.parametrize(
    ("source", "target"),
    [((3840, 2160), (1280, 720)), ((2688, 1520), (1280, 724)), ((1920, 1080), (160, 90))],
)
def test_a_pattern_finer_than_the_result_averages_to_grey_instead_of_aliasing(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    result = shrunk(checkerboard(*source), *target).astype(np.float32)
    assert abs(float(result.mean()) - 127.5) < 2
    assert float(result.std()) < 2


def test_the_picture_stays_where_it_was_in_a_frame_of_odd_size() -> None:
    frame = np.zeros((1521, 2689, 3), dtype=np.uint8)
    frame[1000:1100, 2000:2100] = 255  # a square centred at (2050, 1050)
    result = shrunk(frame, 1280, 724)
    rows, columns = np.nonzero(result[:, :, 0] > 127)
    assert abs(float(columns.mean()) - 2050 * 1280 / 2689) < 1
    assert abs(float(rows.mean()) - 1050 * 724 / 1521) < 1


@pytest.mark.parametrize(("source", "target"), [((3840, 2160), (1280, 720)), ((2688, 1520), (160, 90))])
def test_the_picture_is_close_to_one_area_averaging_straight_to_the_size(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    scene = smooth_scene(*source)
    reference = cv2.resize(scene, target, interpolation=cv2.INTER_AREA)
    assert cv2.PSNR(reference, shrunk(scene, *target)) > 40


def test_a_frame_already_at_the_size_comes_back_as_a_copy() -> None:
    frame = smooth_scene(160, 90)
    result = shrunk(frame, 160, 90)
    assert np.array_equal(result, frame)
    result[:] = 0
    assert frame.any()


def test_the_sizes_asked_for_keep_the_shape_and_never_grow() -> None:
    assert at_most_wide(3840, 2160, 160) == (160, 90)
    assert at_most_wide(2688, 1520, 1280) == (1280, 724)
    assert at_most_wide(640, 360, 1280) == (640, 360)
    assert at_most_wide(4000, 1, 16) == (16, 1)
    assert at_most_long(2160, 3840, 1280) == (720, 1280)
    assert at_most_long(2688, 1520, 1280) == (1280, 724)
    assert at_most_long(704, 576, 1280) == (704, 576)
    assert at_most_long(1, 4000, 16) == (1, 16)
