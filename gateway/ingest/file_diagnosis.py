"""Why OpenCV cannot open a video file: it is empty; or it is an MP4 or MOV file without its index
(the ``moov`` box) yet, which a recorder writes only when it stops. A file camera pointed at a
recording still being written (or one cut short when its recorder was killed) was reported as
"empty, truncated, or no video stream", which sent people looking for a broken file; it opens once
the recording ends, and its camera retries until then."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["file_not_opened", "missing_index"]

_LARGEST_BOXES = 4096
"""Top-level boxes looked at: a file has a handful (ftyp, free, mdat, moov, udta)."""


def file_not_opened(path: Path, display: str) -> str:
    """Why the video file at ``path`` (``display`` in the message) did not open."""
    try:
        empty = path.stat().st_size == 0
    except OSError:
        empty = False
    if empty:
        return f"not a readable video: {display} is empty (0 bytes)"
    unfinished = missing_index(path)
    if unfinished is not None:
        return f"not a readable video yet: {display} is {unfinished}"
    return f"not a readable video: {display} (empty, truncated, or no video stream)"


def missing_index(path: Path) -> str | None:
    """What the MP4 or MOV file at ``path`` lacks to be played (its ``moov`` box, with its media
    data there), or None when it has one, or is no such file."""
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            boxes = _top_level_boxes(file, size)
    except OSError:
        return None
    if not boxes or boxes[0] != b"ftyp" or b"moov" in boxes:
        return None
    if b"mdat" in boxes:
        return (
            "an MP4 with media data but no index (moov box) yet: a recording still being written "
            "(it plays once the recording ends), or one whose recorder was killed before finishing it"
        )
    return "an MP4 with neither media data nor an index (moov box) yet: a recording just started?"


def _top_level_boxes(file: BinaryIO, size: int) -> list[bytes]:
    """The types of the top-level boxes of the file, up to where one runs past its end (the one
    being written)."""
    kinds: list[bytes] = []
    position = 0
    while position + 8 <= size and len(kinds) < _LARGEST_BOXES:
        file.seek(position)
        header = file.read(16)
        length, kind = struct.unpack(">I4s", header[:8])
        if length == 1 and len(header) == 16:  # a 64-bit size follows
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # to the end of the file
            length = size - position
        kinds.append(kind)
        if length < 8:
            break
        position += length
    return kinds
