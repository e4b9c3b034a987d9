"""The parts of a file played one by one (``file_parts.py``), found a step at a time as playback
nears each part's end rather than by a pass over the whole file at open: a file of many GB scanned
whole held its camera's first frame for seconds, again each time the file was replaced. A part
whose end is not found yet grows as it is read (``FileRange``'s ``reach``).

``PartScan`` keeps what was found and answers how far a part goes; each kind of file says where its
parts start: ``transport_stream.CodecScan`` (a video codec change), ``elementary.SizeScan`` (a
codec or picture size change in a raw stream).
"""

from __future__ import annotations

from typing import BinaryIO

__all__ = ["PartScan", "all_parts"]


class PartScan:
    """The parts of the file ``file`` (``size`` bytes) found so far: ``starts`` holds where each
    starts; every part start before ``_frontier`` has been found. Subclasses look at the next step
    of the file in ``scan_ahead``."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file, self._size = file, size
        self.starts: list[int] = [0]
        self._frontier = 0

    @property
    def done(self) -> bool:
        """Whether the whole file has been looked at."""
        return self._frontier >= self._size

    def end(self, index: int) -> int | None:
        """Where part ``index`` ends, once found (None while its end is still unscanned)."""
        if index + 1 < len(self.starts):
            return self.starts[index + 1]
        return self._size if self.done else None

    def reach(self, index: int, position: int) -> int:
        """How far part ``index`` is known to go once the bytes before ``position`` are wanted: the
        file is scanned on until the part's end, or past ``position``."""
        while (end := self.end(index)) is None and self._frontier < position:
            self.scan_ahead()
        return self._frontier if end is None else end

    def segments(self) -> list[tuple[int, int]] | None:
        """The parts found so far as byte ranges [start, end) (the last one's end as far as
        scanned); None for one part."""
        if len(self.starts) == 1:
            return None
        ends = [*self.starts[1:], self._frontier if not self.done else self._size]
        return list(zip(self.starts, ends, strict=True))

    def scan_ahead(self) -> None:
        """Look at the next step of the file, moving ``_frontier`` on (to the end: all looked at)."""
        raise NotImplementedError

    def close(self) -> None:
        self._file.close()


def all_parts(scan: PartScan | None) -> list[tuple[int, int]] | None:
    """The parts ``scan`` finds in the whole file, as ``segments`` gives them (None for one part, or
    no scan: a file of another kind); the scan is closed."""
    if scan is None:
        return None
    try:
        while not scan.done:
            scan.scan_ahead()
        return scan.segments()
    finally:
        scan.close()
