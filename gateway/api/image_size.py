"""What a JPEG's or PNG's structure says before anything is decoded: its width and height, and for a
PNG the bytes its image data inflates to."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from gateway.image_format import JPEG_START, PNG_SIGNATURE

__all__ = [
    "image_size",
    "jpeg_frame",
    "png_chunk_past_end",
    "png_chunks",
    "png_data_bytes",
    "png_inflates_past",
]

_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7})
"""Start-of-frame markers (baseline, progressive, lossless, arithmetic, hierarchical, JPEG-LS):
they carry the size."""
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
"""Markers without a length: TEM, the restart markers and SOI."""
_JPEG_START_OF_SCAN = 0xDA
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""Channels of each PNG colour type: grey, RGB, palette, grey + alpha, RGBA."""
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""(first column, first row, column step, row step) of an interlaced PNG's seven passes."""
_INFLATE_INPUT = 4096
"""Compressed bytes inflated per step: zlib expands at most ~1032:1, so a step makes 4 MiB at most."""


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's start-of-frame; None when the header does not
    say (not one of them, or cut short)."""
    if data[:8] == PNG_SIGNATURE:
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    frame = jpeg_frame(data)
    return None if frame is None else (frame[1], frame[2])


def jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(start-of-frame marker, width, height) of a JPEG; None when its header does not say."""
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
            return marker, width, height
        position += 2 + length
    return None


def png_data_bytes(data: bytes) -> int | None:
    """The bytes a PNG's image data inflates to as its IHDR declares them (rows of pixels, each with
    its filter byte); None when there is no valid IHDR."""
    if data[:8] != PNG_SIGNATURE or len(data) < 29 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    channels = _PNG_CHANNELS.get(colour)
    if channels is None:
        return None
    passes = _ADAM7 if interlace == 1 else ((0, 0, 1, 1),)
    total = 0
    for first_column, first_row, column_step, row_step in passes:
        columns = max(0, -(-(width - first_column) // column_step))
        rows = max(0, -(-(height - first_row) // row_step))
        if columns and rows:
            total += rows * (1 + -(-(columns * channels * depth) // 8))
    return total


def png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(kind, where its data starts, its declared length) of each chunk of a PNG up to IEND; the
    last one may run past the end of ``data`` (see ``png_chunk_past_end``)."""
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        yield kind, position + 8, length
        if kind == b"IEND":
            return
        position += 12 + length


def png_chunk_past_end(data: bytes) -> tuple[str, int, int] | None:
    """(kind, declared length, bytes of it present) of a PNG chunk whose data runs past the end of
    ``data``, or None. OpenCV allocates what a chunk declares before reading it: a 919-byte PNG
    whose PLTE said 3.3 GB took 3.1 GiB and 5 s to refuse."""
    for kind, start, length in png_chunks(data):
        if start + length + 4 > len(data):
            return kind.decode("latin-1"), length, max(0, len(data) - start)
    return None


def png_inflates_past(data: bytes, limit: int) -> bool:
    """Whether a PNG's IDAT stream inflates to more than ``limit`` bytes, found by inflating at most
    that much; False for a stream that ends first or is corrupt (the decoder will say so)."""
    inflater = zlib.decompressobj()
    produced = 0
    view = memoryview(data)
    for kind, start, length in png_chunks(data):
        if kind != b"IDAT":
            continue
        chunk = view[start : start + length]
        for offset in range(0, len(chunk), _INFLATE_INPUT):
            pending: bytes | memoryview = chunk[offset : offset + _INFLATE_INPUT]
            while pending:
                try:
                    produced += len(inflater.decompress(pending, limit + 1 - produced))
                except zlib.error:
                    return False
                if produced > limit:
                    return True
                if inflater.eof:
                    return False
                pending = inflater.unconsumed_tail
    return False
