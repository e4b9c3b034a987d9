"""What a PNG's structure says before anything is decoded: the bytes its image data inflates to, and
chunks that run past the end. Width and height, a JPEG's or a PNG's, are ``gateway.image_format``'s
(``header_size``, ``jpeg_frame``), shared with the camera side."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from gateway.image_format import PNG_SIGNATURE

__all__ = [
    "png_chunk_past_end",
    "png_chunks",
    "png_data_bytes",
    "png_inflates_past",
]

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""Channels of each PNG colour type: grey, RGB, palette, grey + alpha, RGBA."""
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""(first column, first row, column step, row step) of an interlaced PNG's seven passes."""
_INFLATE_INPUT = 4096
"""Compressed bytes inflated per step: zlib expands at most ~1032:1, so a step makes 4 MiB at most."""


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
