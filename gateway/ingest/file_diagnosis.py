"""Why OpenCV cannot open a video file: it is empty; or it is an MP4 or MOV file without its index
(the ``moov`` box) yet, which a recorder writes only when it stops. A file camera pointed at a
recording still being written (or one cut short when its recorder was killed) was reported as
"empty, truncated, or no video stream", which sent people looking for a broken file; it opens once
the recording ends, and its camera retries until then."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from gateway.ingest.mp4_boxes import MOST_TOP_LEVEL_BOXES, boxes

__all__ = ["file_not_opened", "missing_index"]


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
            # Up to the one running past the file's end: the box being written.
            kinds = [box.kind for box in islice(boxes(file), MOST_TOP_LEVEL_BOXES)]
    except OSError:
        return None
    if not kinds or kinds[0] != b"ftyp" or b"moov" in kinds:
        return None
    if b"mdat" in kinds:
        return (
            "an MP4 with media data but no index (moov box) yet: a recording still being written "
            "(it plays once the recording ends), or one whose recorder was killed before finishing it"
        )
    return "an MP4 with neither media data nor an index (moov box) yet: a recording just started?"
