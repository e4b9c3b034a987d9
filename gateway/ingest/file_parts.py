"""``FileParts``: which bytes of a video file a file camera opens next, so that each picture size of
the file plays at its own. OpenCV's FFmpeg backend scales every frame of a file to its first size:

- a raw H.264 or H.265 stream of several sizes is played part by part (``elementary.py``), and so is
  an MPEG transport stream of several video codecs (``transport_stream.py``), the parts of either
  found as playback nears them (a part whose end is not found yet grows as it is read);
- a container (MP4, MKV, MOV) is played by its path, its sizes watched as it plays
  (``container_sizes.py``); from a change on, the rest of it, written out as a raw stream a bounded
  piece at a time, is played part by part the same way, and at its end the container again from its
  start. A transport stream's part of one codec is a container too: its sizes are watched, and the
  rest of that part played so, then the next part (one codec's part of two sizes was played all at
  its first, the second squeezed into it, and named nowhere).

A part is shown to OpenCV as if it were the whole file (``file_range.py``). A raw stream has no
rotation metadata: a container's rest is turned as OpenCV turned the container's frames (a phone's
portrait clip stays portrait).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from gateway.domain import Image
from gateway.errors import SourceError
from gateway.ingest.container_sizes import SizeWatch
from gateway.ingest.elementary import SizeScan, size_segments, stream_rate
from gateway.ingest.file_range import FileRange, range_url
from gateway.ingest.part_scan import PartScan
from gateway.ingest.transport_stream import CodecScan

__all__ = ["FileParts"]

# OpenCV's turn for each rotation a container's display matrix gives (``CAP_PROP_ORIENTATION_META``).
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


class FileParts:
    """The parts of the regular video file ``path`` and the one due next; ``display`` names the file
    in errors, ``timeouts`` are OpenCV's open and read timeouts for the size watch's capture, and
    ``piece_budget_s`` the time a piece of a container's rest may take to write (no frame comes
    meanwhile)."""

    def __init__(self, path: str, display: str, timeouts: list[int], piece_budget_s: float) -> None:
        self._path, self._display, self._timeouts = path, display, timeouts
        # Each part's byte range (None: the file plays whole, by its path), or the scan that finds a
        # raw stream's or a transport stream's parts as they are needed, and the one due.
        self._segments, self._scan = _file_segments(path)
        self._segment = 0
        self._rest: IO[bytes] | None = None  # a piece of a container's rest, whose parts are playing
        self._rest_segments: list[tuple[int, int]] = []  # the piece's parts, and the one due
        self._rest_segment = 0
        self._watch: SizeWatch | None = None
        self._rest_watch: SizeWatch | None = None  # where the rest's next piece comes from, if any
        self._piece_budget_s = piece_budget_s
        self.squeezed: str | None = None
        """Why frames of the file are shown squeezed into its first size (``SizeWatch.squeezed``),
        once found, until the file is replaced."""
        self._turn: int | None = None  # the cv2.rotate code that sets the rest's frames upright
        self._streams = True  # whether this OpenCV reads streams, which playing a part needs

    def part(self) -> FileRange | str | None:
        """What OpenCV opens for the part due: FFmpeg's URL of it where its end is known, a reader of
        it where its end is still being looked for, or None when the file plays whole, by its path."""
        if self._rest is not None:
            return range_url(self._rest.name, *self._rest_segments[self._rest_segment])
        if self._scan is not None:
            end = self._scan.end(self._segment)
            if end is not None:
                return range_url(self._path, self._scan.starts[self._segment], end)
            span, reach = self._scanned_span()
            return FileRange(self._path, *span, reach)
        if self._segments is None:
            return None
        return range_url(self._path, *self._segments[self._segment])

    def _scanned_span(self) -> tuple[tuple[int, int], Callable[[int], int]]:
        """The scanned part due's range as far as it is known, and how it grows (``FileRange``)."""
        if self._scan is None:
            raise ValueError("no scan")
        start = self._scan.starts[self._segment]
        return (start, self._scan.reach(self._segment, start + 1)), partial(self._scan.reach, self._segment)

    def play_whole(self) -> None:
        """Play the file whole, by its path, from now on (an OpenCV before 4.9 reads no streams): at
        its first size, from its start, its size no longer watched."""
        self._end_rest()
        self._end_scan()
        self._segments, self._segment, self._streams = None, 0, False
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def watch(self) -> None:
        """Watch the picture size of a container, or of the transport stream's part due, anew from
        its start (it is opened, or sought to it); a raw stream's parts have one size each."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._streams and self._rest is None:
            if self._scan is not None:
                end = self._scan.end(self._segment)
                if end is not None:
                    known = (self._scan.starts[self._segment], end)
                    self._watch = SizeWatch.open(self._path, self._timeouts, known)
                    return
                scanned, reach = self._scanned_span()
                self._watch = SizeWatch.open(self._path, self._timeouts, scanned, reach)
                return
            span = None if self._segments is None else self._segments[self._segment]
            self._watch = SizeWatch.open(self._path, self._timeouts, span)

    def size_changed(self, capture: cv2.VideoCapture) -> bool:
        """Whether the frame the container's ``capture`` just grabbed has a new picture size: then the
        first piece of the rest of the file, from that frame on, is written out, and its first part
        is due. SourceError when it cannot be written (a full disk). A new size that cannot be
        played at (VP9, AV1, Motion JPEG) is named in ``squeezed`` instead."""
        watch = self._watch
        if watch is None or not watch.changes_by(float(capture.get(cv2.CAP_PROP_PTS))):
            if watch is not None and watch.squeezed is not None:
                self.squeezed, self._watch = watch.squeezed, None
                watch.close()
            return False
        self._watch = None
        self._turn = _TURNS.get(int(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 360)
        self._rest_watch = watch
        self._next_piece()
        return True

    def _next_piece(self) -> None:
        """The rest's next piece written out in place of the one that played, its first part due."""
        watch = self._rest_watch
        if watch is None:
            raise ValueError("no rest to write")
        self._end_rest(keep_watch=True)
        try:
            self._rest, more = watch.rest_piece(self._piece_budget_s)
        except OSError as exc:
            self._end_rest()
            raise SourceError(f"{self._display}: cannot write the rest of the file out: {exc}") from exc
        if not more:
            self._rest_watch = None
            watch.close()
        whole = [(0, os.fstat(self._rest.fileno()).st_size)]
        self._rest_segments, self._rest_segment = size_segments(Path(self._rest.name)) or whole, 0

    def stream_rate(self) -> float | None:
        """The frame rate the raw stream of the part due gives in its parameter sets, which FFmpeg
        does not read (it plays every raw stream at 25 fps); None for a container, whose rate FFmpeg
        reads, for a container's rest (played at the container's), and for a stream that gives none."""
        if self._rest is not None:
            return None
        if self._scan is not None:
            start = self._scan.starts[self._segment]
        else:
            start = 0 if self._segments is None else self._segments[self._segment][0]
        return stream_rate(Path(self._path), start)

    @property
    def playing_rest(self) -> bool:
        """Whether the part due is of a container's rest, written out as a raw stream."""
        return self._rest is not None

    def upright(self, image: Image) -> Image:
        """``image``, a frame of the part playing, turned as its container's rotation says."""
        if self._rest is None or self._turn is None:
            return image
        return np.asarray(cv2.rotate(image, self._turn), dtype=np.uint8)

    def advance(self, *, replaced: bool) -> bool:
        """At the end of what played, the part due next: True when it must be opened anew (the next
        part; the file from its start, after a container's last part or when it was ``replaced``);
        False when the capture that played it can seek back to its start (a container's)."""
        if replaced:
            self.squeezed = None
            return self._from_start()
        played_rest = self._rest is not None
        if played_rest:
            if self._rest_segment + 1 < len(self._rest_segments):
                self._rest_segment += 1
                return True
            if self._rest_watch is not None:
                self._next_piece()
                return True
            self._end_rest()
        if self._scan is not None:
            return self._next_scanned()
        if self._segments is None:
            if played_rest:
                return self._from_start()
            self.watch()
            return False
        self._segment = (self._segment + 1) % len(self._segments)
        self.watch()
        return True

    def _next_scanned(self) -> bool:
        """The codec part after the one that played (its end is found by now), or the first again;
        once the whole file is scanned, its parts are known: a file of one codec plays whole."""
        scan = self._scan
        if scan is None:
            raise ValueError("no scan")
        scan.reach(self._segment, 1 << 62)  # where the part that played ends
        self._segment = self._segment + 1 if self._segment + 1 < len(scan.starts) else 0
        if scan.done:
            self._segments = scan.segments()
            self._end_scan()
            self._segment = self._segment if self._segments is not None else 0
        self.watch()
        return True

    def _end_scan(self) -> None:
        scan, self._scan = self._scan, None
        if scan is not None:
            scan.close()

    def _from_start(self) -> bool:
        """The file due again from its start, its parts found anew (it may have changed)."""
        self._end_rest()
        self._end_scan()
        self._segments, self._scan = _file_segments(self._path) if self._streams else (None, None)
        self._segment = 0
        self.watch()
        return True

    def _end_rest(self, *, keep_watch: bool = False) -> None:
        rest, self._rest = self._rest, None
        if rest is not None:
            rest.close()
        watch, self._rest_watch = (None, self._rest_watch) if keep_watch else (self._rest_watch, None)
        if watch is not None:
            watch.close()

    def close(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()
        self._end_rest()
        self._end_scan()


def _file_segments(path: str) -> tuple[list[tuple[int, int]] | None, PartScan | None]:
    """The parts of the file ``path`` played one by one (None when it plays whole), or the scan that
    finds a raw stream's size parts or a transport stream's codec parts where it holds more than its
    first scan step."""
    scan = SizeScan.open(Path(path)) or CodecScan.open(Path(path))
    if scan is None:
        return None, None
    scan.scan_ahead()
    if not scan.done:
        return None, scan
    scan.close()
    return scan.segments(), None
