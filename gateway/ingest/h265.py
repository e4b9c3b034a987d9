"""The H.265 (HEVC) bitstream as far as a raw file's picture size and frame rate go: which NAL units
carry them, ``sps_size``, the size a sequence parameter set gives (``elementary.py`` finds where it
changes), and ``sps_rate``, the frame rate its video usability information gives."""

from __future__ import annotations

from gateway.ingest.bitstream import BitReader, rbsp
from gateway.ingest.video_usability import frame_rate, skip_to_timing

__all__ = [
    "HEADER_BYTES",
    "PARAMETER_SET_TYPES",
    "SEQUENCE_PARAMETER_SET",
    "is_picture",
    "nal_type",
    "sps_rate",
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
    try:
        return _picture_size(BitReader(rbsp(payload)))[0]
    except ValueError:
        return None


def sps_rate(payload: bytes) -> float | None:
    """The frame rate an H.265 sequence parameter set's video usability information gives (E.2.1: a
    time scale over the ticks of a frame), from its payload past the two-byte NAL header; None when it
    gives none or cannot be read."""
    bits = BitReader(rbsp(payload))
    try:
        _, sub_layers = _picture_size(bits)
        bits.unsigned()  # luma bit depth
        bits.unsigned()  # chroma bit depth
        order_count_bits = bits.unsigned() + 4
        every_sub_layer = bits.bits(1)
        for _ in range(0 if every_sub_layer else sub_layers, sub_layers + 1):
            for _ in range(3):  # decoded picture buffering, reordering, latency
                bits.unsigned()
        for _ in range(6):  # coding block and transform sizes, transform depths
            bits.unsigned()
        if bits.bits(1) and bits.bits(1):  # scaling lists enabled, and given here
            _skip_scaling_lists(bits)
        bits.skip(2)  # asymmetric motion partitions, sample adaptive offset
        if bits.bits(1):  # pulse code modulation
            bits.skip(8)
            bits.unsigned()
            bits.unsigned()
            bits.skip(1)
        _skip_reference_picture_sets(bits, bits.unsigned())
        if bits.bits(1):  # long-term reference pictures
            for _ in range(bits.unsigned()):
                bits.skip(order_count_bits + 1)
        bits.skip(2)  # temporal motion vector prediction, strong intra smoothing
        if not bits.bits(1):  # no video usability information
            return None
        skip_to_timing(bits)
        bits.skip(3)  # neutral chroma, field sequence, frame field information
        if bits.bits(1):  # a default display window
            for _ in range(4):
                bits.unsigned()
        return frame_rate(bits, ticks_per_frame=1)
    except ValueError:
        return None


def _picture_size(bits: BitReader) -> tuple[tuple[int, int] | None, int]:
    """The size of the sequence parameter set at ``bits``, read up to its bit depths, and the
    number of its sub-layers beyond the first; ValueError where it ends early."""
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
    array_type = 0 if separate_planes else chroma_format
    crop_x = 2 if array_type in (1, 2) else 1
    crop_y = 2 if array_type == 1 else 1
    width -= crop_x * (left + right)
    height -= crop_y * (top + bottom)
    return ((width, height) if width > 0 and height > 0 else None), sub_layers


def _skip_scaling_lists(bits: BitReader) -> None:
    """scaling_list_data() of H.265 7.3.4."""
    for size in range(4):
        for _ in range(0, 6, 3 if size == 3 else 1):
            if not bits.bits(1):  # predicted from another list
                bits.unsigned()
                continue
            if size > 1:
                bits.signed()  # its DC coefficient
            for _ in range(min(64, 1 << (4 + 2 * size))):
                bits.signed()


def _skip_reference_picture_sets(bits: BitReader, count: int) -> None:
    """``count`` st_ref_pic_set()s of H.265 7.3.7 as a sequence parameter set holds them, each maybe
    predicted from the one before, whose number of pictures it needs (7.4.8)."""
    pictures: list[int] = []
    for index in range(count):
        if index > 0 and bits.bits(1):  # predicted from the set before
            bits.skip(1)  # the sign of its picture order difference
            bits.unsigned()
            kept = 0
            for _ in range(pictures[-1] + 1):
                used = bits.bits(1)
                kept += 1 if used or bits.bits(1) else 0
            pictures.append(kept)
        else:
            before, after = bits.unsigned(), bits.unsigned()
            for _ in range(before + after):
                bits.unsigned()
                bits.skip(1)
            pictures.append(before + after)


def _skip_profile_tier_level(bits: BitReader, sub_layers: int) -> None:
    """profile_tier_level(1, sub_layers) of H.265 7.3.3: the general profile and level, then the
    sub-layers' (each present or not, as its flags say)."""
    bits.skip(_PROFILE_TIER_LEVEL_BITS + _LEVEL_BITS)
    present = [(bits.bits(1), bits.bits(1)) for _ in range(sub_layers)]
    if sub_layers > 0:
        bits.skip(2 * (8 - sub_layers))  # reserved, aligning the flags to 16 bits
    for profile_present, level_present in present:
        bits.skip(_PROFILE_TIER_LEVEL_BITS * profile_present + _LEVEL_BITS * level_present)
