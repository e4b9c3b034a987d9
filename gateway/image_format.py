"""The image formats the gateway takes as bodies (JPEG and PNG), told apart by their first bytes,
their width and height as their headers give them, and what a PNG's chunks say of its transparency
before it is decoded.

Neutral like ``domain``: it imports nothing of ours, so the HTTP side (which reads an image's size
from its header before admitting it) and inference (which decodes it) share one set of signatures.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "JPEG_SIGNATURE",
    "JPEG_START",
    "PNG_SIGNATURE",
    "header_size",
    "is_jpeg_or_png",
    "jpeg_frame",
    "png_colour_key",
    "with_colour_key",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The eight bytes every PNG file starts with."""
JPEG_START = b"\xff\xd8"
"""A JPEG's start-of-image marker (SOI): its first two bytes."""
JPEG_SIGNATURE = JPEG_START + b"\xff"
"""SOI and the 0xFF of the marker that follows it: what a JPEG file starts with."""
_PNG_GREY, _PNG_RGB = 0, 2
_PNG_KEY_SAMPLES = {_PNG_GREY: 1, _PNG_RGB: 3}
"""Samples of a tRNS colour key, for the colour types that carry one: grey, RGB."""
_KEY_ROWS = 512
_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7})
"""Start-of-frame markers (baseline, progressive, lossless, arithmetic, hierarchical, JPEG-LS):
they carry the size."""
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
"""Markers without a length: TEM, the restart markers and SOI."""
_JPEG_START_OF_SCAN = 0xDA


def is_jpeg_or_png(data: bytes) -> bool:
    """Whether ``data`` starts as a JPEG or a PNG file does (it may still be corrupt past that)."""
    return data.startswith((JPEG_SIGNATURE, PNG_SIGNATURE))


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the start of a PNG (its IHDR) or a JPEG (its start-of-frame, past any
    metadata segments); None when ``data`` is neither or is cut short before the size."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    frame = jpeg_frame(data)
    return None if frame is None else (frame[1], frame[2])


def jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(start-of-frame marker, width, height) of a JPEG, past any metadata segments; None when
    ``data`` is no JPEG or its header does not say (cut short, or the scan comes first)."""
    if not data.startswith(JPEG_START):
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            # Bytes where a marker belongs: libjpeg skips them to the next 0xFF ("extraneous bytes
            # before marker") and decodes on, so the size must be read past them too.
            position = data.find(b"\xff", position)
            if position < 0:
                return None
            continue
        marker = data[position + 1]
        if marker == 0xFF:  # fill bytes before a marker
            position += 1
        elif marker in _JPEG_STANDALONE:
            position += 2
        elif marker == _JPEG_START_OF_SCAN:
            return None
        elif marker in _JPEG_FRAMES:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return marker, width, height
        else:
            (length,) = struct.unpack(">H", data[position + 2 : position + 4])
            position += 2 + length
    return None


def png_colour_key(data: bytes) -> tuple[int, ...] | None:
    """The one colour a grey or RGB PNG's tRNS chunk makes transparent, as OpenCV's IMREAD_UNCHANGED
    decodes its samples: a 1-tuple for grey, (blue, green, red) for RGB; samples under 8 bits scaled
    to 0..255 as the decoder scales them, 16-bit ones left whole. None for any other PNG, for a key
    outside the image's bit depth (libpng ignores it) and for a tRNS after the image data."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 29 or data[12:16] != b"IHDR":
        return None
    depth, colour = data[24], data[25]
    samples = _PNG_KEY_SAMPLES.get(colour)
    if samples is None or depth not in (1, 2, 4, 8, 16):
        return None
    position = 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"tRNS":
            payload = data[position + 8 : position + 8 + length]
            if length != 2 * samples or len(payload) != length:
                return None
            key = struct.unpack(f">{samples}H", payload)
            largest = (1 << depth) - 1
            if any(sample > largest for sample in key):
                return None
            if depth < 8:
                key = tuple(sample * 255 // largest for sample in key)
            return key[::-1]
        position += 12 + length
    return None


def with_colour_key(decoded: npt.NDArray[Any], key: tuple[int, ...] | None) -> npt.NDArray[Any]:
    """A grey or BGR image decoded from a PNG, with the alpha channel its colour ``key`` gives it
    (BGRA: transparent where a pixel is exactly the key, opaque elsewhere), so that it is blended
    like any other transparent PNG. Returned as it is when there is no key or it already has alpha
    (OpenCV applies an RGB key itself in some versions, a grey one in none)."""
    if key is None:
        return decoded
    grey = decoded.ndim == 2 or (decoded.ndim == 3 and decoded.shape[2] == 1)
    if not (grey and len(key) == 1) and not (decoded.ndim == 3 and decoded.shape[2] == len(key) == 3):
        return decoded
    pixels = decoded.reshape(*decoded.shape[:2], -1)
    colour = np.asarray(key, dtype=decoded.dtype)
    opaque = np.iinfo(decoded.dtype).max
    result = np.empty((*decoded.shape[:2], 4), dtype=decoded.dtype)
    # In bands of rows, so that the comparison's temporaries stay small beside a large image.
    for top in range(0, decoded.shape[0], _KEY_ROWS):
        band = pixels[top : top + _KEY_ROWS]
        result[top : top + _KEY_ROWS, :, :3] = band
        keyed = np.all(band == colour, axis=2)
        result[top : top + _KEY_ROWS, :, 3] = np.where(keyed, 0, opaque)
    return result
