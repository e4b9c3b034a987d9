"""``FileRange``: the bytes [start, end) of a file, shown to OpenCV's ``VideoCapture`` as if they were all
of it (one part of a raw stream of several picture sizes, ``elementary.py``)."""

from __future__ import annotations

import io

__all__ = ["FileRange"]


class FileRange(io.BufferedIOBase):
    """The bytes [start, end) of a file, read and sought as if they were all of it: what OpenCV's
    ``VideoCapture`` takes in place of a path (a ``BufferedIOBase``) to play one part of a file."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._start, self._length = start, end - start
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._position
        count = left if size is None or size < 0 else min(size, left)
        if count <= 0:
            return b""
        self._file.seek(self._start + self._position)
        data = self._file.read(count)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(0, origin + offset), self._length)
        return self._position

    def close(self) -> None:
        self._file.close()
        super().close()
