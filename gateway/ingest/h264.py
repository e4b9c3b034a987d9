"""Raw H.264 files whose picture size changes part way (``cat small.h264 large.h264``): OpenCV's FFmpeg
backend scales every frame to the first size and reports no change, so such a file is played part by
part. ``size_segments`` finds the parts from the sequence parameter sets' sizes; ``FileRange`` shows
``VideoCapture`` one part as if it were the whole file."""

from __future__ import annotations

import io
import mmap
import os
import re
from pathlib import Path

__all__ = ["FileRange", "size_segments", "sps_size"]

_START_CODE = b"\x00\x00\x01"
_SEQUENCE_PARAMETER_SET = 7  # the H.264 NAL unit type that carries the picture size
_SPS_BYTES = 256  # more than enough of a sequence parameter set to reach its size
# Profiles whose parameter sets carry chroma format, bit depths and scaling lists before the size.
_HIGH_PROFILES = frozenset({44, 83, 86, 100, 110, 118, 122, 128, 134, 135, 138, 139, 244})


def size_segments(path: Path) -> list[tuple[int, int]] | None:
    """The byte ranges [start, end) of the raw H.264 stream at ``path`` that each hold one picture
    size, in order, when it holds more than one; None for one size, or for a file that is no raw
    H.264 stream (a container keeps its own account of sizes; H.265 is not looked into)."""
    try:
        with path.open("rb") as stream:
            if os.fstat(stream.fileno()).st_size < len(_START_CODE) + 1:
                return None
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _size_segments(data)
    except (OSError, ValueError):
        return None


def _size_segments(data: mmap.mmap) -> list[tuple[int, int]] | None:
    if not (data[:3] == _START_CODE or data[:4] == b"\x00" + _START_CODE):
        return None
    starts: list[int] = [0]
    size: tuple[int, int] | None = None
    position = data.find(_START_CODE)
    while position >= 0 and position + 3 < len(data):
        header = data[position + 3]
        following = data.find(_START_CODE, position + 3)
        if header & 0x1F == _SEQUENCE_PARAMETER_SET:
            end = min(following if following >= 0 else len(data), position + 4 + _SPS_BYTES)
            parsed = sps_size(data[position + 4 : end])
            if parsed is not None and size is not None and parsed != size:
                # A four-byte start code's leading zero belongs to the new part.
                starts.append(position - 1 if data[position - 1] == 0 else position)
            size = parsed or size
        position = following
    if len(starts) == 1:
        return None
    return list(zip(starts, [*starts[1:], len(data)], strict=True))


class _Bits:
    """An H.264 RBSP read bit by bit, most significant first."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def bits(self, count: int) -> int:
        if count > self._left:
            raise ValueError("the parameter set ends early")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)

    def unsigned(self) -> int:
        """An Exp-Golomb ue(v)."""
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("an Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def signed(self) -> int:
        """An Exp-Golomb se(v)."""
        code = self.unsigned()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def sps_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of the pictures an H.264 sequence parameter set describes, cropping
    applied (ITU-T H.264 7.3.2.1.1), from its payload past the NAL header; None when it cannot be
    read."""
    rbsp = re.sub(b"\x00\x00\x03", b"\x00\x00", payload)
    bits = _Bits(rbsp)
    try:
        profile = bits.bits(8)
        bits.bits(16)  # constraint flags and level
        bits.unsigned()  # its id
        chroma_format, separate_planes = 1, 0
        if profile in _HIGH_PROFILES:
            chroma_format = bits.unsigned()
            if chroma_format == 3:
                separate_planes = bits.bits(1)
            bits.unsigned()  # luma bit depth
            bits.unsigned()  # chroma bit depth
            bits.bits(1)
            if bits.bits(1):  # scaling matrices, skipped
                for index in range(8 if chroma_format != 3 else 12):
                    if bits.bits(1):
                        _skip_scaling_list(bits, 16 if index < 6 else 64)
        bits.unsigned()  # log2 of the largest frame number
        order_type = bits.unsigned()
        if order_type == 0:
            bits.unsigned()
        elif order_type == 1:
            bits.bits(1)
            bits.signed()
            bits.signed()
            for _ in range(bits.unsigned()):
                bits.signed()
        bits.unsigned()  # reference frames
        bits.bits(1)
        width_blocks = bits.unsigned() + 1
        height_units = bits.unsigned() + 1
        frames_only = bits.bits(1)
        if not frames_only:
            bits.bits(1)
        bits.bits(1)
        left = right = top = bottom = 0
        if bits.bits(1):
            left, right, top, bottom = (bits.unsigned() for _ in range(4))
    except ValueError:
        return None
    array_type = 0 if separate_planes else chroma_format
    crop_x = 2 if array_type in (1, 2) else 1
    crop_y = (2 - frames_only) * (2 if array_type == 1 else 1)
    width = width_blocks * 16 - crop_x * (left + right)
    height = (2 - frames_only) * height_units * 16 - crop_y * (top + bottom)
    return (width, height) if width > 0 and height > 0 else None


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last + bits.signed() + 256) % 256
        last = next_scale or last


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
