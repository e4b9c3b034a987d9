"""A JPEG's or PNG's width and height read from its header, before anything is decoded."""

from __future__ import annotations

import struct

from gateway.image_format import JPEG_START, PNG_SIGNATURE

__all__ = ["image_size"]

_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
"""Start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size."""
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
"""Markers without a length: TEM, the restart markers and SOI."""
_JPEG_START_OF_SCAN = 0xDA


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's start-of-frame; None when the header does not
    say (not one of them, or cut short)."""
    if data[:8] == PNG_SIGNATURE:
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] != JPEG_START:
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
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        if marker == _JPEG_START_OF_SCAN:
            return None
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_FRAMES:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length
    return None
