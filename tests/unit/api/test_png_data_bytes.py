"""png_data_bytes and png_inflates_past: what a PNG's image data should inflate to, checked against
the data OpenCV writes and an interlaced PNG libpng decodes."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.api.image_size import png_chunk_past_end, png_data_bytes, png_inflates_past

PASSES = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def image_data(png: bytes) -> bytes:
    """Every IDAT chunk's payload, inflated."""
    position, compressed = 8, b""
    while position + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        if kind == b"IDAT":
            compressed += png[position + 8 : position + 8 + length]
        position += 12 + length
    return zlib.decompress(compressed)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (17, 33)])
@pytest.mark.parametrize(("channels", "dtype"), [(1, np.uint8), (3, np.uint8), (4, np.uint8), (3, np.uint16)])
def test_the_declared_bytes_are_what_the_encoder_wrote(
    shape: tuple[int, int],
    channels: int,
    dtype: type[np.unsignedinteger[object]],  # type: ignore[type-var]
) -> None:
    pixels = np.random.default_rng(2).integers(0, np.iinfo(dtype).max, (*shape, channels), dtype=dtype)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    png = encoded.tobytes()
    declared = png_data_bytes(png)
    assert declared == len(image_data(png))
    assert not png_inflates_past(png, declared)
    assert png_inflates_past(png, declared - 1)


def interlaced_rgb(pixels: npt.NDArray[np.uint8], extra: bytes = b"") -> bytes:
    """An Adam7 PNG of ``pixels`` (RGB), its rows unfiltered, with ``extra`` deflated after them."""
    height, width = pixels.shape[:2]
    rows = b"".join(
        b"\x00" + row.tobytes()
        for first_column, first_row, column_step, row_step in PASSES
        for row in pixels[first_row::row_step, first_column::column_step]
        if row.size
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    signature = b"\x89PNG\r\n\x1a\n"
    return (
        signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows + extra)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (9, 9), (21, 37)])
def test_an_interlaced_png_declares_its_seven_passes(shape: tuple[int, int]) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (*shape, 3), dtype=np.uint8)
    png = interlaced_rgb(pixels)
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert np.array_equal(decoded[:, :, ::-1], pixels)
    assert png_data_bytes(png) == len(image_data(png))


def test_data_past_the_rows_is_found_by_inflating_no_further_than_the_limit() -> None:
    png = interlaced_rgb(np.zeros((4, 4, 3), dtype=np.uint8), extra=bytes(64 << 20))
    declared = png_data_bytes(png)
    assert declared is not None
    assert png_inflates_past(png, declared + 1000)


def test_a_corrupt_stream_is_left_to_the_decoder() -> None:
    png = interlaced_rgb(np.zeros((4, 4, 3), dtype=np.uint8))
    start = png.index(b"IDAT") + 4
    corrupt = png[:start] + b"\xff" * 8 + png[start + 8 :]
    assert not png_inflates_past(corrupt, 1)


def test_a_whole_png_has_no_chunk_past_its_end_and_a_cut_one_names_the_chunk() -> None:
    png = interlaced_rgb(np.zeros((4, 4, 3), dtype=np.uint8))
    assert png_chunk_past_end(png) is None
    assert png_chunk_past_end(png + b"trailing bytes after IEND") is None
    start = png.index(b"IDAT") + 4
    length = struct.unpack(">I", png[start - 8 : start - 4])[0]
    assert png_chunk_past_end(png[: start + 3]) == ("IDAT", length, 3)
