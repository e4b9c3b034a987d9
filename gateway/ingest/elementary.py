"""Raw H.264 and H.265 files (Annex B, no container: ``.h264``, ``.h265``, ``.hevc``) whose picture
size changes part way (``cat small.h265 large.h265``, a recorder that followed a camera's new
profile): OpenCV's FFmpeg backend scales every frame to the first size and reports no change, so such
a file is played part by part. ``size_segments`` finds the parts from the sizes the sequence
parameter sets give (``h264.py``, ``h265.py``).

A part starts where the access unit that brings the new size starts: at the non-picture NAL units
sent just before its sequence parameter set (an access unit delimiter; H.265's video parameter set,
without which FFmpeg refuses the sequence parameter set that follows, and the part's first frames).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.ingest import h264, h265

__all__ = ["H264", "H265", "Codec", "parameter_set_sizes", "size_segments", "stream_codec"]

_START_CODE = b"\x00\x00\x01"
_SPS_BYTES = 256  # more than enough of a sequence parameter set to reach its size


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
    frozenset({5}),  # IDR slice
)
H265 = Codec(
    h265.HEADER_BYTES,
    h265.SEQUENCE_PARAMETER_SET,
    h265.nal_type,
    h265.is_picture,
    frozenset({36, 37, 38, 40}),  # end of sequence, end of bitstream, filler, suffix SEI
    h265.sps_size,
    frozenset({19, 20}),  # IDR with leading pictures that need nothing before it, IDR without any
)
# An H.265 stream starts with a video parameter set, an access unit delimiter or an SEI, each with a
# two-byte header whose second byte is 1 (layer 0, temporal id 0): no H.264 stream starts so.
_H265_FIRST_HEADERS = frozenset({b"\x40\x01", b"\x46\x01", b"\x4e\x01"})


def size_segments(path: Path) -> list[tuple[int, int]] | None:
    """The byte ranges [start, end) of the raw H.264 or H.265 stream at ``path`` that each hold one
    picture size of one codec, in order, when it holds more than one; None for one, or for a file
    that is no raw stream (a container keeps its own account of sizes)."""
    try:
        with path.open("rb") as stream:
            if os.fstat(stream.fileno()).st_size < len(_START_CODE) + h265.HEADER_BYTES + 1:
                return None
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _size_segments(data)
    except (OSError, ValueError):
        return None


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


def parameter_set_sizes(data: bytes | mmap.mmap, codec: Codec) -> Iterator[tuple[int, tuple[int, int]]]:
    """(where its access unit starts, the size it gives) of each sequence parameter set in the Annex B
    data ``data`` whose size can be read."""
    for unit_start, _, size in _parameter_sets(data, codec):
        if size is not None:
            yield unit_start, size


def _parameter_sets(
    data: bytes | mmap.mmap, codec: Codec
) -> Iterator[tuple[int, Codec, tuple[int, int] | None]]:
    """(where its access unit starts, its codec, the size it gives or None) of each sequence parameter
    set in ``data``, which may change codec part way (``_switched``)."""
    unit_start: int | None = None  # where the non-picture NAL units before the next picture start
    position = data.find(_START_CODE)
    while position >= 0 and position + 3 + codec.header_bytes < len(data):
        codec = _switched(codec, data[position + 3 : position + 5]) or codec
        kind = codec.nal_type(data[position + 3])
        following = data.find(_START_CODE, position + 3)
        if codec.is_picture(kind) or kind in codec.trailing:
            unit_start = None
        elif unit_start is None:
            # A four-byte start code's leading zero belongs to the unit it starts.
            unit_start = position - 1 if position > 0 and data[position - 1] == 0 else position
        if kind == codec.sequence_parameter_set and unit_start is not None:
            payload = position + 3 + codec.header_bytes
            end = min(following if following >= 0 else len(data), payload + _SPS_BYTES)
            yield unit_start, codec, codec.sps_size(data[payload:end])
        position = following


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


def _size_segments(data: mmap.mmap) -> list[tuple[int, int]] | None:
    codec = stream_codec(data)
    if codec is None:
        return None
    starts: list[int] = [0]
    playing_codec: Codec | None = None
    playing_size: tuple[int, int] | None = None
    # Of the parameter sets an access unit repeats (a container's copy put before a key frame's own),
    # the last one is in force.
    units = {start: (unit_codec, size) for start, unit_codec, size in _parameter_sets(data, codec)}
    for start, (unit_codec, size) in units.items():
        new_codec = playing_codec is not None and unit_codec is not playing_codec
        new_size = None not in (size, playing_size) and size != playing_size
        if new_codec or new_size:
            starts.append(start)
        playing_codec = unit_codec
        playing_size = size or (None if new_codec else playing_size)
    if len(starts) == 1:
        return None
    return list(zip(starts, [*starts[1:], len(data)], strict=True))
