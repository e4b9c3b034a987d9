"""The H.265 (HEVC) bitstream as far as a raw file's picture size goes: which NAL units carry it, and
``sps_size``, the size a sequence parameter set gives (``elementary.py`` finds where it changes)."""

from __future__ import annotations

from gateway.ingest.bitstream import BitReader, rbsp

__all__ = [
    "HEADER_BYTES",
    "PARAMETER_SET_TYPES",
    "SEQUENCE_PARAMETER_SET",
    "is_picture",
    "nal_type",
    "sps_size",
]

VIDEO_PARAMETER_SET, SEQUENCE_PARAMETER_SET, PICTURE_PARAMETER_SET = 32, 33, 34
PARAMETER_SET_TYPES = frozenset({VIDEO_PARAMETER_SET, SEQUENCE_PARAMETER_SET, PICTURE_PARAMETER_SET})
HEADER_BYTES = 2
_PROFILE_TIER_LEVEL_BITS = 88  # profile space, tier, profile, its compatibility and constraint flags
_LEVEL_BITS = 8


def nal_type(header: int) -> int:
    """The type of the NAL unit whose header's first byte is ``header``."""
    return (header >> 1) & 0x3F


def is_picture(kind: int) -> bool:
    """Whether NAL units of type ``kind`` carry a picture's slices (the VCL types, 0 to 31)."""
    return kind < VIDEO_PARAMETER_SET


def sps_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of the pictures an H.265 sequence parameter set describes, its conformance
    window applied (ITU-T H.265 7.3.2.2.1), from its payload past the two-byte NAL header; None when
    it cannot be read."""
    bits = BitReader(rbsp(payload))
    try:
        bits.skip(4)  # the video parameter set's id
        sub_layers = bits.bits(3)  # beyond the first
        bits.skip(1)
        _skip_profile_tier_level(bits, sub_layers)
        bits.unsigned()  # its id
        chroma_format = bits.unsigned()
        separate_planes = bits.bits(1) if chroma_format == 3 else 0
        width = bits.unsigned()
        height = bits.unsigned()
        left = right = top = bottom = 0
        if bits.bits(1):  # a conformance window: the picture is cropped
            left, right, top, bottom = (bits.unsigned() for _ in range(4))
    except ValueError:
        return None
    array_type = 0 if separate_planes else chroma_format
    crop_x = 2 if array_type in (1, 2) else 1
    crop_y = 2 if array_type == 1 else 1
    width -= crop_x * (left + right)
    height -= crop_y * (top + bottom)
    return (width, height) if width > 0 and height > 0 else None


def _skip_profile_tier_level(bits: BitReader, sub_layers: int) -> None:
    """profile_tier_level(1, sub_layers) of H.265 7.3.3: the general profile and level, then the
    sub-layers' (each present or not, as its flags say)."""
    bits.skip(_PROFILE_TIER_LEVEL_BITS + _LEVEL_BITS)
    present = [(bits.bits(1), bits.bits(1)) for _ in range(sub_layers)]
    if sub_layers > 0:
        bits.skip(2 * (8 - sub_layers))  # reserved, aligning the flags to 16 bits
    for profile_present, level_present in present:
        bits.skip(_PROFILE_TIER_LEVEL_BITS * profile_present + _LEVEL_BITS * level_present)
