"""A PNG's eXIf orientation, wherever its chunk stands: with or without transparency, one image is
shown one way, and the chunk counts after the image data too, as OpenCV reads it."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.inference.preprocess import decode_image

PNG_HEADER_END = 33
"""The signature (8 bytes) and the IHDR chunk (25)."""


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def exif_chunk(orientation: int) -> bytes:
    """An eXIf chunk saying how to turn the image (big-endian TIFF, one IFD entry)."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    exif = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)
    return chunk(b"eXIf", exif)


def corner_marked(channels: int) -> npt.NDArray[np.uint8]:
    """A 24 x 40 opaque image, each corner its own colour, so that every turn and flip shows."""
    pixels = np.full((24, 40, channels), 255, dtype=np.uint8)
    pixels[:4, :4, :3] = (0, 0, 255)
    pixels[:4, -4:, :3] = (0, 255, 0)
    pixels[-4:, :4, :3] = (255, 0, 0)
    pixels[-4:, -4:, :3] = (0, 0, 0)
    return pixels


def encoded(pixels: npt.NDArray[np.uint8], orientation: int, *, after_data: bool) -> bytes:
    ok, buffer = cv2.imencode(".png", pixels)
    assert ok
    data = bytes(buffer.tobytes())
    if not after_data:
        return data[:PNG_HEADER_END] + exif_chunk(orientation) + data[PNG_HEADER_END:]
    end = data.rindex(b"IEND") - 4  # the IEND chunk's length field
    return data[:end] + exif_chunk(orientation) + data[end:]


@pytest.mark.parametrize("after_data", [False, True], ids=["before-IDAT", "after-IDAT"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_transparent_png_is_turned_as_the_same_opaque_png_is(orientation: int, after_data: bool) -> None:
    # Given the same picture as an opaque PNG and as one with an (all opaque) alpha channel
    opaque = decode_image(encoded(corner_marked(3), orientation, after_data=after_data))
    transparent = decode_image(encoded(corner_marked(4), orientation, after_data=after_data))
    # Then both paths show it alike (the transparent one stopped looking at IDAT and was not turned)
    assert np.array_equal(transparent, opaque)


@pytest.mark.parametrize("channels", [3, 4], ids=["opaque", "transparent"])
def test_an_exif_chunk_after_the_image_data_turns_the_image(channels: int) -> None:
    # Orientation 6: stored 40 wide and 24 high, shown a quarter turn clockwise
    shown = decode_image(encoded(corner_marked(channels), 6, after_data=True))
    assert np.array_equal(shown, cv2.rotate(corner_marked(3), cv2.ROTATE_90_CLOCKWISE))


@pytest.mark.parametrize("channels", [3, 4], ids=["opaque", "transparent"])
def test_an_exif_chunk_after_the_end_is_not_read(channels: int) -> None:
    # libpng stops at IEND: what follows it is no part of the image
    ok, buffer = cv2.imencode(".png", corner_marked(channels))
    assert ok
    shown = decode_image(bytes(buffer.tobytes()) + exif_chunk(6))
    assert np.array_equal(shown, corner_marked(3))
