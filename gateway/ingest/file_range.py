"""The bytes [start, end) of a file, shown to OpenCV's ``VideoCapture`` as if they were all of it
(one part of a raw stream of several picture sizes, ``elementary.py``): by FFmpeg's own ``subfile``
protocol where the end is known (``range_url``), or read through ``FileRange`` where the part grows
as its end is looked for. OpenCV's stream reader, which a ``FileRange`` is read through, keeps memory
at each open (about 20 KB a part of a looping transport stream of two codecs, measured: 24 MB an
hour for a 3 s file); a URL opens with no such cost."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

__all__ = ["FileRange", "range_url"]


def range_url(path: str, start: int, end: int) -> str:
    """FFmpeg's URL of the bytes [start, end) of the file ``path`` (``end`` > ``start``). The path
    goes after ``file:``, so that no character of it is read as a protocol or an option."""
    return f"subfile,,start,{start},end,{end},,:file:{os.path.abspath(path)}"


class FileRange(io.BufferedIOBase):
    """The bytes [start, end) of a file, read and sought as if they were all of it: what OpenCV's
    ``VideoCapture`` takes in place of a path (a ``BufferedIOBase``) to play one part of a file.

    ``reach``, where given, tells how far the part is known to go once the bytes before a file offset
    are wanted (its end not yet found: ``part_scan.PartScan``): ``end`` is then only as far
    as is known at first, and the part grows as it is read on."""

    def __init__(self, path: str, start: int, end: int, reach: Callable[[int], int] | None = None) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._start, self._length = start, end - start
        self._position = 0
        self._reach = reach

    def _wanted(self, position: int) -> None:
        """Grow the part to hold the bytes before ``position`` (from its start), as far as it goes."""
        if self._reach is not None and position > self._length:
            self._length = max(self._length, self._reach(self._start + position) - self._start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        whole = size is None or size < 0
        self._wanted(self._position + (1 << 62 if whole else size or 0))
        left = self._length - self._position
        count = left if size is None or size < 0 else min(size, left)
        if count <= 0:
            return b""
        self._file.seek(self._start + self._position)
        data = self._file.read(count)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # A part still growing gives its end as far as known (a demuxer's size, its duration's guess).
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._wanted(origin + offset)
        self._position = min(max(0, origin + offset), self._length)
        return self._position

    def close(self) -> None:
        self._file.close()
        super().close()
