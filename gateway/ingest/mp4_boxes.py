"""The boxes of an MP4 or QuickTime file (ISO/IEC 14496-12, "atoms" in QuickTime): each a header of
a 32-bit big-endian size (the header's own bytes included) and a four-character type, then its
content. A size of 1 means a 64-bit size (``largesize``) follows the type, for a box of 4 GiB or
more (a long recording's ``mdat``); a size of 0 means the box runs to the end of the file, or of the
box it is in (a recorder writes its ``mdat`` so until it stops).

``boxes`` reads their headers alone, seeking past each box's content: a file's top-level boxes
(``ftyp``, ``mdat``, ``moov``) are found in a handful of reads wherever they lie, even in a file of
gigabytes. Both callers read files that may be cut short or still being written, or no MP4 at all:
a header cut short, or a size too small to hold its own header (no box is, so where the next one
starts cannot be known), ends the walk there, never raises.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

__all__ = ["MOST_TOP_LEVEL_BOXES", "Box", "boxes"]

MOST_TOP_LEVEL_BOXES = 4096
"""Top-level boxes a caller looks at: a file has a handful (ftyp, free, mdat, moov, udta); a crafted
one of millions of empty boxes is not walked to its end in a camera's reader thread."""

_HEADER = struct.Struct(">I4s")
_LARGE_SIZE = struct.Struct(">Q")
_TO_THE_END, _SIZE_FOLLOWS = 0, 1


class Box(NamedTuple):
    """One box: its type, where its content starts, and how many bytes the header says it holds
    (the last box of a file cut short, or still being written, may say more than there is)."""

    kind: bytes
    offset: int
    size: int


def boxes(stream: BinaryIO, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes of ``stream`` from ``start`` to ``end`` (its end, when None), in order: a file's
    top-level boxes, or, given a box's content's bounds, the boxes inside it. The stream's position
    is left wherever the walk last read."""
    if end is None:
        end = stream.seek(0, io.SEEK_END)
    position = start
    while end - position >= _HEADER.size:
        stream.seek(position)
        header = stream.read(min(_HEADER.size + _LARGE_SIZE.size, end - position))
        if len(header) < _HEADER.size:
            return  # the stream is shorter than ``end`` said
        size, kind = _HEADER.unpack_from(header)
        header_size = _HEADER.size
        if size == _SIZE_FOLLOWS:
            if len(header) < _HEADER.size + _LARGE_SIZE.size:
                return
            (size,) = _LARGE_SIZE.unpack_from(header, _HEADER.size)
            header_size += _LARGE_SIZE.size
        elif size == _TO_THE_END:
            size = end - position
        if size < header_size:
            return
        yield Box(kind, position + header_size, size - header_size)
        position += size
