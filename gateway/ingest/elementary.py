"""Raw H.264 and H.265 files (Annex B, no container: ``.h264``, ``.h265``, ``.hevc``) whose picture
size changes part way (``cat small.h265 large.h265``, a recorder that followed a camera's new
profile): OpenCV's FFmpeg backend scales every frame to the first size and reports no change, so such
a file is played part by part. ``SizeScan`` finds the parts from the sizes the sequence parameter
sets give (``h264.py``, ``h265.py``), a step at a time as playback nears them; ``size_segments``
scans a whole file (a bounded piece of a container's rest) at once.

A part starts where the access unit that brings the new size starts: at the non-picture NAL units
sent just before its sequence parameter set (an access unit delimiter; H.265's video parameter set,
without which FFmpeg refuses the sequence parameter set that follows, and the part's first frames).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from gateway.ingest import h264, h265
from gateway.ingest.part_scan import PartScan, all_parts

__all__ = [
    "H264",
    "H265",
    "SCAN_BYTES",
    "Codec",
    "SizeScan",
    "parameter_set_sizes",
    "size_segments",
    "stream_codec",
    "stream_rate",
]

_START_CODE = b"\x00\x00\x01"
_SPS_BYTES = 256  # more than enough of a sequence parameter set to reach its size
_RATE_BYTES = 64 << 10  # where a part's first sequence parameter set is looked for
# More than any sequence parameter set takes to reach its timing (scaling lists and reference picture
# sets included): a damaged one is read no further, each field of it costing a pass over what is read.
_SPS_RATE_BYTES = 4 << 10
SCAN_BYTES = 2 << 20
"""How much of the file one step of ``SizeScan`` looks at (a few milliseconds' work)."""


@dataclass(frozen=True, slots=True)
class Codec:
    """What finding an Annex B stream's picture sizes needs to know of its codec."""

    header_bytes: int
    sequence_parameter_set: int
    nal_type: Callable[[int], int]
    is_picture: Callable[[int], bool]
    trailing: frozenset[int]
    """Non-picture NAL unit types that end the access unit before them, not start the next one."""
    sps_size: Callable[[bytes], tuple[int, int] | None]
    sps_rate: Callable[[bytes], float | None]
    refreshes: frozenset[int]
    """Picture NAL unit types no picture after them refers past (IDR): a stream may start there with
    no frame lost."""


H264 = Codec(
    h264.HEADER_BYTES,
    h264.SEQUENCE_PARAMETER_SET,
    h264.nal_type,
    h264.is_picture,
    frozenset({10, 11, 12}),  # end of sequence, end of stream, filler
    h264.sps_size,
    h264.sps_rate,
    frozenset({5}),  # IDR slice
)
H265 = Codec(
    h265.HEADER_BYTES,
    h265.SEQUENCE_PARAMETER_SET,
    h265.nal_type,
    h265.is_picture,
    frozenset({36, 37, 38, 40}),  # end of sequence, end of bitstream, filler, suffix SEI
    h265.sps_size,
    h265.sps_rate,
    frozenset({19, 20}),  # IDR with leading pictures that need nothing before it, IDR without any
)
# An H.265 stream starts with a video parameter set, an access unit delimiter or an SEI, each with a
# two-byte header whose second byte is 1 (layer 0, temporal id 0): no H.264 stream starts so.
_H265_FIRST_HEADERS = frozenset({b"\x40\x01", b"\x46\x01", b"\x4e\x01"})


def size_segments(path: Path) -> list[tuple[int, int]] | None:
    """The byte ranges [start, end) of the raw H.264 or H.265 stream at ``path`` that each hold one
    picture size of one codec, in order, when it holds more than one; None for one, or for a file
    that is no raw stream (a container keeps its own account of sizes). It scans the whole file:
    ``SizeScan`` finds them as they are needed."""
    return all_parts(SizeScan.open(path))


class SizeScan(PartScan):
    """The parts of one picture size and codec each of a raw stream file, found one ``SCAN_BYTES``
    step at a time from its start (``part_scan.py``). The file is read with ``pread``, not mapped: a
    file cut short while mapped would kill the process (SIGBUS) where a read merely comes back short."""

    def __init__(self, file: BinaryIO, size: int, codec: Codec) -> None:
        super().__init__(file, size)
        self._walk = _walk(partial(_read_at, file), size, codec, lambda: SCAN_BYTES)
        # The last parameter set of the access unit the walk is in: a later one of the same unit (a
        # container's copy put before a key frame's own) takes its place; the last one is in force.
        self._unit: _Found | None = None
        self._playing_codec: Codec | None = None
        self._playing_size: tuple[int, int] | None = None

    @classmethod
    def open(cls, path: Path) -> SizeScan | None:
        """A scan of the file ``path`` with nothing yet looked at, or None for a file that is no raw
        H.264 or H.265 stream (or cannot be read)."""
        try:
            file = path.open("rb")
        except OSError:
            return None
        try:
            size = os.fstat(file.fileno()).st_size
            codec = stream_codec(os.pread(file.fileno(), 6, 0))
        except OSError:
            codec = None
        if codec is None or size < len(_START_CODE) + h265.HEADER_BYTES + 1:
            file.close()
            return None
        return cls(file, size, codec)

    def scan_ahead(self) -> None:
        """Look at the parameter sets in about the next ``SCAN_BYTES`` of the file. A file that can no
        longer be read counts as scanned: its last part runs to the end it had."""
        try:
            for found in self._walk:
                if isinstance(found, int):
                    # Every parameter set before ``found`` is given: an access unit left behind is over.
                    if self._unit is not None and found > self._unit[0]:
                        self._settle(self._unit)
                        self._unit = None
                    self._frontier = max(self._frontier, found)
                    return
                if self._unit is not None and self._unit[0] != found[0]:
                    self._settle(self._unit)
                self._unit = found
        except (OSError, ValueError):  # ValueError: the scan was closed
            pass
        if self._unit is not None:
            self._settle(self._unit)
            self._unit = None
        self._frontier = self._size

    def _settle(self, unit: _Found) -> None:
        """Count the access unit ``unit``'s parameter set in force: a new codec or size starts a part."""
        start, unit_codec, size = unit
        new_codec = self._playing_codec is not None and unit_codec is not self._playing_codec
        new_size = None not in (size, self._playing_size) and size != self._playing_size
        if new_codec or new_size:
            self.starts.append(start)
        self._playing_codec = unit_codec
        self._playing_size = size or (None if new_codec else self._playing_size)

    def close(self) -> None:
        self._walk.close()
        super().close()


def _read_at(file: BinaryIO, offset: int, count: int) -> bytes:
    return os.pread(file.fileno(), count, offset)


def stream_codec(data: bytes | mmap.mmap) -> Codec | None:
    """The codec of the raw stream (or Annex B packet) ``data``, or None when it does not start as
    one (a container)."""
    if data[:3] == _START_CODE:
        header = data[3:5]
    elif data[:4] == b"\x00" + _START_CODE:
        header = data[4:6]
    else:
        return None
    if header in _H265_FIRST_HEADERS:
        return H265
    return H264 if len(header) > 0 and _h264_first(header[0]) else None


def _h264_first(header: int) -> bool:
    """Whether an H.264 stream may start with a NAL unit of header ``header``: a delimiter, an SEI, a
    parameter set or a slice (a stream cut part way), each with the importance its type needs. MPEG-1,
    MPEG-2 and MPEG-4 Part 2 video start with 00 00 01 too, and a start code no H.264 stream begins
    with (B3, B0: the forbidden bit; 00, 20: an unspecified type), whose slices (01 to AF) were taken
    for H.264 parameter sets, and the stream cut into nonsense parts."""
    kind, importance = header & 0x1F, header & 0x60
    if header & 0x80:
        return False
    return kind in (6, 9) or (kind in (1, 5, 7, 8) and importance != 0)


def stream_rate(path: Path, start: int = 0) -> float | None:
    """The frame rate the first sequence parameter set of the raw H.264 or H.265 stream in the file
    ``path`` from byte ``start`` gives, or None: no raw stream starts there (a container, whose rate
    FFmpeg reads), none is given, or the file cannot be read."""
    try:
        with path.open("rb") as file:
            data = os.pread(file.fileno(), _RATE_BYTES, start)
    except OSError:
        return None
    codec = stream_codec(data)
    if codec is None:
        return None
    position = data.find(_START_CODE)
    while position >= 0 and position + 3 + codec.header_bytes < len(data):
        following = data.find(_START_CODE, position + 3)
        if codec.nal_type(data[position + 3]) == codec.sequence_parameter_set:
            payload = position + 3 + codec.header_bytes
            end = min(following if following >= 0 else len(data), payload + _SPS_RATE_BYTES)
            return codec.sps_rate(data[payload:end])
        position = following
    return None


def parameter_set_sizes(data: bytes | mmap.mmap, codec: Codec) -> Iterator[tuple[int, tuple[int, int]]]:
    """(where its access unit starts, the size it gives) of each sequence parameter set in the Annex B
    data ``data`` whose size can be read."""
    whole = len(data) + 1
    for found in _walk(partial(_slice, data), len(data), codec, lambda: whole):
        if not isinstance(found, int) and found[2] is not None:
            yield found[0], found[2]


def _slice(data: bytes | mmap.mmap, offset: int, count: int) -> bytes:
    return bytes(data[offset : offset + count])


_Found = tuple[int, Codec, tuple[int, int] | None]


def _walk(
    read: Callable[[int, int], bytes], size: int, codec: Codec, step: Callable[[], int]
) -> Generator[_Found | int, None, None]:
    """(where its access unit starts, its codec, the size it gives or None) of each sequence parameter
    set of the ``size`` bytes of Annex B data that ``read(offset, count)`` gives, which may change
    codec part way (``_switched``); and, each time about ``step()`` more bytes have been looked at, a
    position before which every such parameter set has been given (an access unit starts no earlier)."""
    base, data = 0, read(0, max(step(), 1))  # the bytes from ``base`` still wanted

    def find(start: int) -> int:
        """Where in ``data`` the first start code from ``start`` is, reading on as far as needed."""
        nonlocal data
        found = data.find(_START_CODE, start)
        while found < 0 and base + len(data) < size:
            searched = max(start, len(data) - len(_START_CODE) + 1)
            more = read(base + len(data), max(step(), 1))
            if not more:
                break
            data += more
            found = data.find(_START_CODE, searched)
        return found

    unit_start: int | None = None  # where the non-picture NAL units before the next picture start
    position = find(0)
    while position >= 0:
        following = find(position + 3)  # a start code found holds this unit's header before it
        if position + 3 + codec.header_bytes >= len(data):
            return
        codec = _switched(codec, data[position + 3 : position + 5]) or codec
        kind = codec.nal_type(data[position + 3])
        if codec.is_picture(kind) or kind in codec.trailing:
            unit_start = None
        elif unit_start is None:
            # A four-byte start code's leading zero belongs to the unit it starts.
            unit_start = base + (position - 1 if position > 0 and data[position - 1] == 0 else position)
        if kind == codec.sequence_parameter_set and unit_start is not None:
            payload = position + 3 + codec.header_bytes
            end = min(following if following >= 0 else len(data), payload + _SPS_BYTES)
            yield unit_start, codec, codec.sps_size(data[payload:end])
        position = following
        if position > step():
            # The bytes looked at are let go, all but the one a four-byte start code may begin with.
            base, data, position = base + position - 1, data[position - 1 :], 1
            yield base if unit_start is None else unit_start


def _switched(codec: Codec, header: bytes) -> Codec | None:
    """The other codec, when the NAL unit header ``header`` starts its parameter sets where ``codec``
    has none such (a recorder that followed a camera from H.264 to H.265, or back): H.265's video
    parameter set is an unspecified type (0) in H.264, H.264's sequence parameter set a layer above
    the base one in H.265, which a single-layer stream never has."""
    if codec is H264 and header == b"\x40\x01":
        return H265
    if codec is H265 and len(header) > 0 and header[0] & 0x9F == 0x07 and header[0] & 0x60:
        return H264
    return None
