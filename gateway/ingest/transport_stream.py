"""MPEG transport stream files (``.ts``) whose video codec changes part way (``cat h264.ts hevc.ts``,
a recorder that followed a camera from H.264 to H.265): FFmpeg takes one codec for the whole file,
the one its program map table (PMT) gives last in what it probes, and decodes every part with it. A
short file probed to its end was decoded all as H.265, its H.264 part giving no frame at all (the
camera reported only "cannot read a frame from the file"); a long one all as H.264, its H.265 part
lost. ``codec_segments`` finds where the PMT's video stream type changes, so that each part is
played on its own (``file_parts.py``), from the program association table (PAT) that starts it.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

__all__ = ["codec_segments"]

PACKET_BYTES = 188
_SYNC = 0x47
_PAT_PID = 0
# The stream types of video (ISO/IEC 13818-1 and its amendments): MPEG-1, MPEG-2, MPEG-4 Part 2,
# H.264, H.265, H.266, and the AVS ones a Chinese camera may send.
_VIDEO_TYPES = frozenset({0x01, 0x02, 0x10, 0x1B, 0x24, 0x33, 0x42, 0xD2})
_PMT_SEARCH_PACKETS = 64
"""How far past a PAT its PMT is looked for (a muxer sends it next, or a few packets on)."""


def codec_segments(path: Path) -> list[tuple[int, int]] | None:
    """The byte ranges [start, end) of the transport stream at ``path`` that each hold one video
    codec, in order, when it holds more than one; None for one, or for a file that is no transport
    stream."""
    try:
        with path.open("rb") as stream:
            if os.fstat(stream.fileno()).st_size < 3 * PACKET_BYTES:
                return None
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if any(data[index * PACKET_BYTES] != _SYNC for index in range(3)):
                    return None
                return _codec_segments(data)
    except (OSError, ValueError):
        return None


def _codec_segments(data: mmap.mmap) -> list[tuple[int, int]] | None:
    starts: list[int] = [0]
    playing: int | None = None
    for offset, stream_type in _video_types(data):
        if playing is not None and stream_type != playing:
            starts.append(offset)
        playing = stream_type
    if len(starts) == 1:
        return None
    return list(zip(starts, [*starts[1:], len(data)], strict=True))


def _video_types(data: mmap.mmap) -> list[tuple[int, int]]:
    """(where its PAT starts, the video stream type its PMT gives) of each PAT that starts a section."""
    found = []
    header = bytes([_SYNC, 0x40 | (_PAT_PID >> 8), _PAT_PID & 0xFF])  # payload unit start
    # A muxer repeats its tables unchanged, ten times a second: a PAT and the packet after it (its
    # PMT) equal to the last ones but for their continuity counters give what those gave, unparsed.
    last: tuple[bytes, int | None] | None = None
    position = data.find(header)
    while position >= 0:
        if position % PACKET_BYTES == 0:
            after = position + PACKET_BYTES
            key = (
                data[position + 4 : after]
                + data[after + 1 : after + 3]
                + data[after + 4 : after + PACKET_BYTES]
            )
            if last is None or last[0] != key:
                program_map = _program_map_pid(_section(data, position))
                stream_type = None if program_map is None else _pmt_video_type(data, position, program_map)
                last = (key, stream_type)
            if last[1] is not None:
                found.append((position, last[1]))
        position = data.find(header, position + 1)
    return found


def _section(data: mmap.mmap, packet: int) -> bytes:
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


def _pmt_video_type(data: mmap.mmap, pat: int, pid: int) -> int | None:
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
