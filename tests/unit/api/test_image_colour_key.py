"""A grey or RGB PNG's tRNS colour key, read from its chunks and applied to what OpenCV decodes:
OpenCV gives a grey PNG's key no alpha channel (and an RGB one's none in some versions), so the
pixels under it would be seen as they are stored instead of transparent."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.image_format import PNG_SIGNATURE, png_colour_key, with_colour_key

GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(
    depth: int, colour: int, rows: list[bytes], before_data: bytes = b"", after_data: bytes = b""
) -> bytes:
    """A PNG of ``rows`` (packed samples, filter 0), ``before_data`` chunks before its IDAT."""
    width = len(rows[0]) * 8 // (depth * {GREY: 1, RGB: 3, PALETTE: 1, GREY_ALPHA: 2, RGBA: 4}[colour])
    header = struct.pack(">IIBBBBB", width, len(rows), depth, colour, 0, 0, 0)
    data = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + before_data
        + chunk(b"IDAT", data)
        + after_data
        + chunk(b"IEND", b"")
    )


def transparent(*key: int) -> bytes:
    return chunk(b"tRNS", struct.pack(f">{len(key)}H", *key))


def decoded_with_key(data: bytes) -> npt.NDArray[np.generic]:
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    return with_colour_key(decoded, png_colour_key(data))


def test_a_grey_key_makes_its_pixels_transparent() -> None:
    # Given an 8-bit grey PNG whose tRNS names 0 (black), with a black and a grey pixel
    image = decoded_with_key(png(8, GREY, [bytes([0, 200])], transparent(0)))
    # Then black is transparent and grey opaque, the grey level kept in all three colours
    assert image.shape == (1, 2, 4)
    assert image.reshape(-1).tolist() == [0, 0, 0, 0, 200, 200, 200, 255]


def test_a_sixteen_bit_grey_key_is_compared_on_all_sixteen_bits() -> None:
    # Given 0x1234 transparent, and 0x12FF beside it (the same level reduced to 8 bits)
    image = decoded_with_key(png(16, GREY, [struct.pack(">HH", 0x1234, 0x12FF)], transparent(0x1234)))
    assert image.dtype == np.uint16
    assert image[0, :, 3].tolist() == [0, 0xFFFF]
    assert image[0, :, :3].tolist() == [[0x1234] * 3, [0x12FF] * 3]


@pytest.mark.parametrize(
    ("depth", "row", "key", "alpha"),
    [
        (1, bytes([0b10100000]), 1, [0, 255, 0, 255, 255, 255, 255, 255]),
        (2, bytes([0b00011011]), 2, [255, 255, 0, 255]),
        (4, bytes([0x0F, 0x70]), 7, [255, 255, 0, 255]),
    ],
    ids=["1-bit", "2-bit", "4-bit"],
)
def test_a_key_under_eight_bits_is_scaled_as_the_samples_are(
    depth: int, row: bytes, key: int, alpha: list[int]
) -> None:
    image = decoded_with_key(png(depth, GREY, [row], transparent(key)))
    assert image[0, :, 3].tolist() == alpha


def test_an_rgb_key_matches_all_three_samples() -> None:
    # Given (10, 20, 30) transparent, and pixels differing from it in one sample each
    pixels = [(10, 20, 30), (11, 20, 30), (10, 21, 30), (10, 20, 31)]
    data = png(8, RGB, [bytes(sample for pixel in pixels for sample in pixel)], transparent(10, 20, 30))
    assert png_colour_key(data) == (30, 20, 10)  # blue, green, red: OpenCV's order
    image = decoded_with_key(data)
    assert image[0, :, 3].tolist() == [0, 255, 255, 255]
    assert image[0, 0, :3].tolist() == [30, 20, 10]


def test_a_sixteen_bit_rgb_key() -> None:
    data = png(16, RGB, [struct.pack(">6H", 1, 2, 3, 1, 2, 4)], transparent(1, 2, 3))
    assert png_colour_key(data) == (3, 2, 1)
    assert decoded_with_key(data)[0, :, 3].tolist() == [0, 0xFFFF]


@pytest.mark.parametrize(
    "data",
    [
        png(8, GREY, [bytes([0, 1])]),
        png(8, GREY, [bytes([0, 1])], after_data=transparent(0)),
        png(4, GREY, [bytes([0x01])], transparent(16)),
        png(8, GREY, [bytes([0, 1])], chunk(b"tRNS", b"\x00")),
        png(8, GREY, [bytes([0, 1])], transparent(0, 0, 0)),
        png(8, PALETTE, [bytes([0, 1])], chunk(b"PLTE", bytes(6)) + chunk(b"tRNS", b"\x00")),
        png(8, RGBA, [bytes(8)], transparent(0, 0, 0)),
        png(8, GREY_ALPHA, [bytes(4)], transparent(0)),
        b"\xff\xd8\xff\xe0",
        PNG_SIGNATURE + bytes(20),
    ],
    ids=[
        "no-tRNS",
        "tRNS-after-the-image-data",
        "key-past-the-bit-depth",
        "short-tRNS",
        "rgb-sized-tRNS-in-grey",
        "palette",
        "rgba",
        "grey-alpha",
        "jpeg",
        "no-IHDR",
    ],
)
def test_no_colour_key_where_libpng_applies_none(data: bytes) -> None:
    assert png_colour_key(data) is None


def test_an_image_with_alpha_already_is_left_as_it_is() -> None:
    decoded = np.zeros((2, 2, 4), dtype=np.uint8)
    assert with_colour_key(decoded, (0, 0, 0)) is decoded
    assert with_colour_key(decoded, None) is decoded


def test_a_tall_image_is_keyed_in_every_band_of_rows() -> None:
    decoded = np.full((1500, 3), 7, dtype=np.uint8)
    decoded[1499, 2] = 8
    alpha = with_colour_key(decoded, (7,))[:, :, 3]
    assert int(np.count_nonzero(alpha)) == 1
    assert alpha[1499, 2] == 255
