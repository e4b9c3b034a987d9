from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from gateway.domain import Image
from gateway.errors import InvalidInputError, ModelLoadError
from gateway.inference.model_config import PreprocessConfig
from gateway.inference.preprocess import Letterbox, decode_image, prepare


def solid(width: int, height: int, bgr: tuple[int, int, int]) -> Image:
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = bgr
    return image


def spec(**overrides: Any) -> PreprocessConfig:
    return PreprocessConfig.model_validate({"width": 320, "height": 320, **overrides})


def test_letterbox_keeps_the_aspect_ratio_and_pads_centred() -> None:
    # Given a 640x360 frame and a 320x320 RGB/255 input
    item, letterbox = prepare(solid(640, 360, (10, 20, 30)), spec())
    # Then it is scaled by half into 320x180, padded 70 rows above and below
    assert letterbox == Letterbox(scale=0.5, pad_x=0.0, pad_y=70.0, source_width=640, source_height=360)
    assert item.shape == (3, 320, 320)
    assert item.dtype == np.float32
    assert item.flags.c_contiguous
    np.testing.assert_allclose(item[:, 160, 160], [30 / 255, 20 / 255, 10 / 255], rtol=1e-6)
    np.testing.assert_allclose(item[:, 0, 160], [114 / 255] * 3, rtol=1e-6)
    np.testing.assert_allclose(item[:, 319, 160], [114 / 255] * 3, rtol=1e-6)
    assert np.all(item[:, 70:250, :] == item[:, 160:161, 160:161])


def test_portrait_frames_are_padded_left_and_right() -> None:
    _, letterbox = prepare(solid(300, 600, (0, 0, 0)), spec())
    assert letterbox.scale == pytest.approx(320 / 600)
    assert (letterbox.pad_x, letterbox.pad_y) == (80.0, 0.0)


def test_letterbox_undo_maps_input_pixels_back_to_the_frame() -> None:
    _, letterbox = prepare(solid(640, 360, (0, 0, 0)), spec())
    boxes = np.array([[0, 70, 320, 250], [80, 115, 160, 160], [-5, 0, 400, 330]], dtype=np.float32)
    np.testing.assert_allclose(
        letterbox.to_source(boxes),
        np.array([[0, 0, 1, 1], [0.25, 0.25, 0.5, 0.5], [0, 0, 1, 1]]),
        atol=1e-6,
    )


def test_stretching_scales_each_axis_on_its_own() -> None:
    item, letterbox = prepare(solid(640, 360, (1, 2, 3)), spec(letterbox=False, width=160, height=90 * 2))
    assert item.shape == (3, 180, 160)
    assert letterbox.scale_y == pytest.approx(0.5)
    assert letterbox.scale == pytest.approx(0.25)
    np.testing.assert_allclose(
        letterbox.to_source(np.array([[40, 45, 80, 90]], dtype=np.float32)), [[0.25, 0.25, 0.5, 0.5]]
    )


def test_raw_uint8_frames_keep_their_exact_values() -> None:
    # Given a scene-anomaly style spec: raw BGR uint8 frames, NHWC, no normalisation
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    raw = spec(
        width=320, height=180, layout="NHWC", color="BGR", datatype="UINT8", scale=1.0, letterbox=False
    )
    item, _ = prepare(frame, raw)
    # Then the item is the resized frame, value for value, still uint8
    assert item.dtype == np.uint8
    assert np.array_equal(item, cv2.resize(frame, (320, 180), interpolation=cv2.INTER_LINEAR))
    same_size, _ = prepare(frame, raw.model_copy(update={"width": 640, "height": 360}))
    assert np.array_equal(same_size, frame)


def test_mean_and_std_are_applied_per_channel_after_scaling() -> None:
    imagenet = spec(
        width=8,
        height=8,
        layout="NHWC",
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )
    item, _ = prepare(solid(8, 8, (0, 128, 255)), imagenet)
    rgb = np.array([255, 128, 0]) / 255
    expected = (rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    assert item.shape == (8, 8, 3)
    np.testing.assert_allclose(item[3, 3], expected, rtol=1e-5)


def test_grey_and_half_precision_layouts() -> None:
    grey, _ = prepare(solid(64, 64, (0, 0, 255)), spec(width=32, height=32, color="GRAY"))
    assert grey.shape == (1, 32, 32)
    np.testing.assert_allclose(grey[0, 5, 5], round(0.299 * 255) / 255, atol=1 / 255)
    half, _ = prepare(solid(64, 64, (0, 0, 255)), spec(width=32, height=32, datatype="FP16"))
    assert half.dtype == np.float16
    assert half.shape == (3, 32, 32)
    assert float(half[0, 1, 1]) == pytest.approx(1.0)


def test_bad_frames_and_bad_normalisation_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="uint8 BGR"):
        prepare(np.zeros((10, 10), dtype=np.uint8), spec())
    with pytest.raises(InvalidInputError, match="uint8 BGR"):
        prepare(np.zeros((10, 10, 3), dtype=np.float32), spec())
    with pytest.raises(ModelLoadError, match="mean has 2 values for 3 channels"):
        prepare(solid(10, 10, (0, 0, 0)), spec(mean=(0.1, 0.2)))


def test_png_and_jpeg_bodies_decode_to_bgr() -> None:
    frame = solid(40, 30, (10, 200, 60))
    ok, png = cv2.imencode(".png", frame)
    assert ok
    assert np.array_equal(decode_image(png.tobytes()), frame)
    ok, jpeg = cv2.imencode(".jpg", frame)
    assert ok
    decoded = decode_image(jpeg.tobytes())
    assert decoded.shape == (30, 40, 3)
    assert np.abs(decoded.astype(int) - frame).max() <= 3


def test_grey_png_bodies_become_three_channels() -> None:
    ok, png = cv2.imencode(".png", np.full((5, 7), 99, dtype=np.uint8))
    assert ok
    decoded = decode_image(png.tobytes())
    assert decoded.shape == (5, 7, 3)
    assert np.all(decoded == 99)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not an image at all",
        b"GIF89a\x01\x00\x01\x00",
        b"BM" + bytes(60),
        b"\x89PNG\r\n\x1a\n" + bytes(40),
        b"\xff\xd8\xff\xe0" + bytes(100),
    ],
    ids=["empty", "text", "gif", "bmp", "corrupt-png", "corrupt-jpeg"],
)
def test_garbage_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidInputError):
        decode_image(body)


def test_truncated_png_is_refused() -> None:
    ok, png = cv2.imencode(".png", np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert ok
    with pytest.raises(InvalidInputError):
        decode_image(png.tobytes()[: len(png) // 2])
