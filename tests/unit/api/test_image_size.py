"""header_size: a JPEG's or PNG's size from its header, as OpenCV encodes them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gateway.image_format import header_size


@pytest.mark.parametrize(
    ("extension", "parameters"),
    [(".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])],
    ids=["png", "baseline jpeg", "progressive jpeg"],
)
@pytest.mark.parametrize("shape", [(3, 5), (480, 640), (1, 20_000), (37, 1)])
def test_the_size_is_read_from_the_header(
    extension: str, parameters: list[int], shape: tuple[int, int]
) -> None:
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ok, data = cv2.imencode(extension, image, parameters)
    assert ok
    height, width = shape
    assert header_size(data.tobytes()) == (width, height)


def test_bytes_where_a_marker_belongs_are_skipped_as_the_decoder_skips_them() -> None:
    # libjpeg decodes past them ("extraneous bytes before marker"): a size not read behind them
    # once let any image past the pixel limit.
    ok, data = cv2.imencode(".jpg", np.zeros((8, 12, 3), dtype=np.uint8))
    assert ok
    jpeg = data.tobytes()
    start_of_frame = jpeg.index(b"\xff\xc0")
    padded = jpeg[:start_of_frame] + b"\x00\x17" + jpeg[start_of_frame:]
    assert header_size(padded) == (12, 8)
    decoded = cv2.imdecode(np.frombuffer(padded, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (8, 12, 3)


def test_what_does_not_say_its_size_is_none() -> None:
    ok, data = cv2.imencode(".jpg", np.zeros((8, 8, 3), dtype=np.uint8))
    assert ok
    jpeg = data.tobytes()
    start_of_frame = jpeg.index(b"\xff\xc0")
    assert header_size(jpeg[: start_of_frame + 6]) is None, "cut inside the frame header"
    assert header_size(jpeg[:2] + b"\x00" * 3) is None, "no marker at all"
    assert header_size(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8) is None
    assert header_size(b"GIF89a") is None
    assert header_size(b"") is None
