"""The H.264 (AVC) bitstream as far as a raw file's picture size and frame rate go: which NAL units
carry them, ``sps_size``, the size a sequence parameter set gives (``elementary.py`` finds where it
changes), and ``sps_rate``, the frame rate its video usability information gives."""

from __future__ import annotations

from gateway.ingest.bitstream import BitReader, rbsp
from gateway.ingest.video_usability import frame_rate, skip_to_timing

__all__ = ["HEADER_BYTES", "SEQUENCE_PARAMETER_SET", "is_picture", "nal_type", "sps_rate", "sps_size"]

SEQUENCE_PARAMETER_SET = 7
"""The NAL unit type that carries the picture size."""
HEADER_BYTES = 1
# Profiles whose parameter sets carry chroma format, bit depths and scaling lists before the size.
_HIGH_PROFILES = frozenset({44, 83, 86, 100, 110, 118, 122, 128, 134, 135, 138, 139, 244})


def nal_type(header: int) -> int:
    """The type of the NAL unit whose header's first byte is ``header``."""
    return header & 0x1F


def is_picture(kind: int) -> bool:
    """Whether NAL units of type ``kind`` carry a picture's slices (the VCL types, 1 to 5)."""
    return 1 <= kind <= 5


def sps_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of the pictures an H.264 sequence parameter set describes, cropping
    applied (ITU-T H.264 7.3.2.1.1), from its payload past the NAL header; None when it cannot be
    read."""
    try:
        return _picture_size(BitReader(rbsp(payload)))
    except ValueError:
        return None


def sps_rate(payload: bytes) -> float | None:
    """The frame rate an H.264 sequence parameter set's video usability information gives (E.1.1:
    a time scale over two ticks a frame), from its payload past the NAL header; None when it gives
    none or cannot be read."""
    bits = BitReader(rbsp(payload))
    try:
        if _picture_size(bits) is None or not bits.bits(1):  # no video usability information
            return None
        skip_to_timing(bits)
        return frame_rate(bits, ticks_per_frame=2)
    except ValueError:
        return None


def _picture_size(bits: BitReader) -> tuple[int, int] | None:
    """The size of the sequence parameter set at ``bits``, read up to its video usability
    information; ValueError where it ends early."""
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
    array_type = 0 if separate_planes else chroma_format
    crop_x = 2 if array_type in (1, 2) else 1
    crop_y = (2 - frames_only) * (2 if array_type == 1 else 1)
    width = width_blocks * 16 - crop_x * (left + right)
    height = (2 - frames_only) * height_units * 16 - crop_y * (top + bottom)
    return (width, height) if width > 0 and height > 0 else None


def _skip_scaling_list(bits: BitReader, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last + bits.signed() + 256) % 256
        last = next_scale or last
