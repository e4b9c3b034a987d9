"""Why OpenCV cannot open or read a video file: it is empty; or it is an MP4 or MOV file without its index
(the ``moov`` box) yet, which a recorder writes only when it stops; or one whose boxes are damaged.
A file camera pointed at a recording still being written (or one cut short when its recorder was
killed) was reported as "empty, truncated, or no video stream", which sent people looking for a
broken file; it opens once the recording ends, and its camera retries until then. A finished file
whose box sizes were damaged was said to be such a recording, and waited for, for ever. A file that
opens but whose first frame does not decode is named with its codec and the picture size its
headers declare: "cannot read a frame from the file" was all a damaged stream was said to be, one
that declared 11584x18176 pixels included."""

from __future__ import annotations

import re
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from gateway.ingest.mp4_boxes import MOST_TOP_LEVEL_BOXES, boxes
from gateway.open_files import exhaustion

__all__ = ["LARGEST_PICTURE", "file_not_opened", "mp4_problem", "no_frame_decoded"]

HEAD_BYTES = 8 * 1024 * 1024
TAIL_BYTES = 32 * 1024 * 1024
"""Where an index is looked for past a box that runs beyond the file's end: in the ``HEAD_BYTES``
from that box (a file whose index comes first) and the file's last ``TAIL_BYTES`` (a recorder writes
it last). The search is made at each failed open, a camera's every retry on a recording still being
written, in its reader thread: it reads at most 40 MiB of the file, however large."""
_CHUNK_BYTES = 8 * 1024 * 1024
_INDEX = re.compile(rb"moov.{4}mvhd", re.DOTALL)
"""An index's header and its first box's (every ``moov`` starts with its ``mvhd``)."""
_INDEX_BYTES = 12
LARGEST_PICTURE = 35_651_584
"""The most pixels a picture of the largest level of H.264 or H.265 holds (level 6.2: 139,264
macroblocks; MaxLumaPs), 8192x4352 for one."""
_CODECS = {"h264": "H.264", "avc1": "H.264", "hevc": "H.265", "hev1": "H.265", "hvc1": "H.265"}
_CODECS |= {"AV01": "AV1", "VP90": "VP9", "VP80": "VP8", "MJPG": "Motion JPEG", "mp4v": "MPEG-4 Part 2"}


def file_not_opened(path: Path, display: str) -> str:
    """Why the video file at ``path`` (``display`` in the message) did not open."""
    try:
        empty = path.stat().st_size == 0
    except OSError:
        empty = False
    if empty:
        return f"not a readable video: {display} is empty (0 bytes)"
    try:
        path.open("rb").close()
    except OSError as exc:
        # OpenCV says only that it did not open; out of descriptors, the file is fine.
        cause = exhaustion(exc)
        if cause is not None:
            return f"cannot open {display}: {cause}"
    problem = mp4_problem(path, display)
    if problem is not None:
        return problem
    return f"not a readable video: {display} (empty, truncated, or no video stream)"


def no_frame_decoded(display: str, fourcc: int, width: int, height: int) -> str:
    """Why a video file (``display``) that opened gives no frame: its stream of the four-character
    code ``fourcc`` (OpenCV's ``CAP_PROP_FOURCC``, 0 if none) does not decode; ``width`` and ``height``
    are what its headers declare (0 if they declare none)."""
    code = "".join(chr(fourcc >> shift & 0xFF) for shift in (0, 8, 16, 24)).strip("\x00 ")
    codec = _CODECS.get(code, code if code.isprintable() else "")
    video = f"its {codec} video" if codec else "its video"
    guess = "damaged data?"
    if width > 0 and height > 0:
        video += f" of {width}x{height}"
        if width * height > LARGEST_PICTURE:
            guess = "a damaged header? no level of H.264 or H.265 allows pictures that large"
    return f"not a readable video: {display}: no frame of {video} could be decoded ({guess})"


def mp4_problem(path: Path, display: str) -> str | None:
    """What keeps the MP4 or MOV file at ``path`` from being played (its ``moov`` box not written
    yet, or a box damaged), or None when it has one, or is no such file."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            # Up to the one running past the file's end: the box being written.
            found = list(islice(boxes(file), MOST_TOP_LEVEL_BOXES))
            kinds = [box.kind for box in found]
            if not kinds or kinds[0] != b"ftyp" or b"moov" in kinds:
                return None
            damaged = next((index for index, box in enumerate(found) if not _four_characters(box.kind)), None)
            if damaged is not None:
                before = found[damaged - 1]  # the first box is the file type's
                return (
                    f"not a readable video: {display} is a damaged MP4: a box's size is wrong (its boxes "
                    f"lead to byte {before.offset + before.size:,}, where no box starts)"
                )
            last = found[-1]
            index = _index_after(file, last.offset, size) if last.offset + last.size > size else None
            if index is not None:
                return (
                    f"not a readable video: {display} is a damaged MP4: a box's size is wrong (its boxes "
                    f"run past the file's end, over its index, the moov box at byte {index:,})"
                )
    except OSError:
        return None
    if b"mdat" in kinds:
        return (
            f"not a readable video yet: {display} is an MP4 with media data but no index (moov box) "
            "yet: a recording still being written (it plays once the recording ends), or one whose "
            "recorder was killed before finishing it"
        )
    return (
        f"not a readable video yet: {display} is an MP4 with neither media data nor an index (moov box) "
        "yet: a recording just started?"
    )


def _four_characters(kind: bytes) -> bool:
    """Whether ``kind`` is a box type: four printable characters (ISO/IEC 14496-12 4.2; QuickTime's
    user data types start with a copyright sign, 0xA9)."""
    return all(0x20 <= byte <= 0x7E or byte == 0xA9 for byte in kind)


def _index_after(file: BinaryIO, start: int, size: int) -> int | None:
    """Where an index box starts in ``file`` (``size`` bytes) past ``start``, looked for in the
    ``HEAD_BYTES`` from there and the last ``TAIL_BYTES``, if one does: a recording still being written
    has none, a finished file whose box before it says a wrong size does."""
    tail = max(start, size - TAIL_BYTES)
    # The head reaches into the tail by an index header less one byte, so none is cut between them.
    for low, high in ((start, min(start + HEAD_BYTES, tail + _INDEX_BYTES - 1)), (tail, size)):
        position, overlap = low, b""
        while position < high:
            file.seek(position)
            chunk = file.read(min(_CHUNK_BYTES, high - position))
            if not chunk:
                break
            found = _INDEX.search(overlap + chunk)
            if found is not None:
                return position - len(overlap) + found.start() - 4  # its size comes before its type
            overlap, position = chunk[1 - _INDEX_BYTES :], position + len(chunk)
    return None
