"""MPEG transport stream files (``.ts``) whose video codec changes part way (``cat h264.ts hevc.ts``,
a recorder that followed a camera from H.264 to H.265): FFmpeg takes one codec for the whole file,
the one its program map table (PMT) gives last in what it probes, and decodes every part with it. A
short file probed to its end was decoded all as H.265, its H.264 part giving no frame at all (the
camera reported only "cannot read a frame from the file"); a long one all as H.264, its H.265 part
lost. ``codec_segments`` finds where the PMT's video stream type changes, so that each part is
played on its own (``file_parts.py``), from the program association table (PAT) that starts it.

``CodecScan`` finds them a window at a time, as playback nears them: a file of many GB scanned whole
at open held its camera's first frame for seconds (about one per GB from the page cache), again each
time the file was replaced.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from gateway.ingest.part_scan import PartScan, all_parts

__all__ = ["SCAN_BYTES", "CodecScan", "codec_segments"]

PACKET_BYTES = 188
_SYNC = 0x47
_PAT_PID = 0
# The stream types of video (ISO/IEC 13818-1 and its amendments): MPEG-1, MPEG-2, MPEG-4 Part 2,
# H.264, H.265, H.266, and the AVS ones a Chinese camera may send.
_VIDEO_TYPES = frozenset({0x01, 0x02, 0x10, 0x1B, 0x24, 0x33, 0x42, 0xD2})
_PMT_SEARCH_PACKETS = 64
"""How far past a PAT its PMT is looked for (a muxer sends it next, or a few packets on)."""
SCAN_BYTES = 11155 * PACKET_BYTES
"""How much of the file one step of the scan looks at (about 2 MiB, a few milliseconds' work): a
whole number of packets, so that every step starts on a packet."""
_PAT_HEADER = bytes([_SYNC, 0x40 | (_PAT_PID >> 8), _PAT_PID & 0xFF])  # payload unit start


def codec_segments(path: Path) -> list[tuple[int, int]] | None:
    """The byte ranges [start, end) of the transport stream at ``path`` that each hold one video
    codec, in order, when it holds more than one; None for one, or for a file that is no transport
    stream. It scans the whole file: ``CodecScan`` finds them as they are needed."""
    return all_parts(CodecScan.open(path))


class CodecScan(PartScan):
    """The parts of one video codec each of a transport stream file, found one ``SCAN_BYTES`` step at
    a time from its start (``part_scan.py``)."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        super().__init__(file, size)
        self._playing: int | None = None  # the video stream type of the last PAT looked at
        # A muxer repeats its tables unchanged, ten times a second: a PAT and the packet after it (its
        # PMT) equal to the last ones but for their continuity counters give what those gave, unparsed.
        self._last: tuple[bytes, int | None] | None = None

    @classmethod
    def open(cls, path: Path) -> CodecScan | None:
        """A scan of the file ``path`` with nothing yet looked at, or None for a file that is no
        transport stream (or cannot be read)."""
        try:
            file = path.open("rb")
        except OSError:
            return None
        try:
            size = os.fstat(file.fileno()).st_size
            head = os.pread(file.fileno(), 3 * PACKET_BYTES, 0)
        except OSError:
            file.close()
            return None
        if len(head) < 3 * PACKET_BYTES or any(head[index * PACKET_BYTES] != _SYNC for index in range(3)):
            file.close()
            return None
        return cls(file, size)

    def scan_ahead(self) -> None:
        """Look at the PATs that start in the next ``SCAN_BYTES`` of the file. A file that can no
        longer be read counts as scanned: its last part runs to the end it had."""
        start = self._frontier
        stop = min(start + SCAN_BYTES, self._size)
        try:
            # With the packets a PMT is looked for in past the last PAT, and that PMT itself.
            data = os.pread(
                self._file.fileno(), stop - start + (_PMT_SEARCH_PACKETS + 1) * PACKET_BYTES, start
            )
        except (OSError, ValueError):  # ValueError: the scan was closed
            self._frontier = self._size
            return
        for offset, stream_type in self._video_types(data, stop - start):
            if self._playing is not None and stream_type != self._playing:
                self.starts.append(start + offset)
            self._playing = stream_type
        self._frontier = stop

    def _video_types(self, data: bytes, window: int) -> list[tuple[int, int]]:
        """(where in ``data`` its PAT starts, the video stream type its PMT gives) of each PAT that
        starts a section in the first ``window`` bytes of ``data``."""
        found = []
        # A match found must start in the window: find's end bounds where it ends.
        bound = window + len(_PAT_HEADER) - 1
        position = data.find(_PAT_HEADER, 0, bound)
        while position >= 0:
            if position % PACKET_BYTES == 0:
                after = position + PACKET_BYTES
                key = (
                    data[position + 4 : after]
                    + data[after + 1 : after + 3]
                    + data[after + 4 : after + PACKET_BYTES]
                )
                if self._last is None or self._last[0] != key:
                    program_map = _program_map_pid(_section(data, position))
                    stream_type = (
                        None if program_map is None else _pmt_video_type(data, position, program_map)
                    )
                    self._last = (key, stream_type)
                if self._last[1] is not None:
                    found.append((position, self._last[1]))
            position = data.find(_PAT_HEADER, position + 1, bound)
        return found


def _section(data: bytes, packet: int) -> bytes:
    """The start of the table section that the packet at ``packet`` starts (empty when none)."""
    body = data[packet : packet + PACKET_BYTES]
    if len(body) < PACKET_BYTES:
        return b""
    payload = 4
    if body[3] & 0x20:  # an adaptation field comes first
        payload += 1 + body[4]
    if payload >= PACKET_BYTES:
        return b""
    payload += 1 + body[payload]  # the pointer field
    return body[payload:]


def _program_map_pid(section: bytes) -> int | None:
    """The PID of the first program's map table in a PAT ``section``."""
    if len(section) < 8 or section[0] != 0x00:
        return None
    end = min(3 + (((section[1] & 0x0F) << 8) | section[2]) - 4, len(section))  # less its CRC
    for entry in range(8, end - 3, 4):
        number = (section[entry] << 8) | section[entry + 1]
        if number != 0:  # 0 names the network information table
            return ((section[entry + 2] & 0x1F) << 8) | section[entry + 3]
    return None


def _pmt_video_type(data: bytes, pat: int, pid: int) -> int | None:
    """The first video stream type of the PMT on ``pid`` that starts in the packets after ``pat``."""
    for index in range(1, _PMT_SEARCH_PACKETS + 1):
        packet = pat + index * PACKET_BYTES
        if packet + 3 > len(data) or data[packet] != _SYNC:
            return None
        if data[packet + 1] & 0x40 and ((data[packet + 1] & 0x1F) << 8 | data[packet + 2]) == pid:
            return _first_video_type(_section(data, packet))
    return None


def _first_video_type(section: bytes) -> int | None:
    if len(section) < 12 or section[0] != 0x02:
        return None
    end = min(3 + (((section[1] & 0x0F) << 8) | section[2]) - 4, len(section))
    entry = 12 + (((section[10] & 0x0F) << 8) | section[11])  # past the program descriptors
    while entry + 5 <= end:
        if section[entry] in _VIDEO_TYPES:
            return section[entry]
        entry += 5 + (((section[entry + 3] & 0x0F) << 8) | section[entry + 4])
    return None
