"""The picture size that a VP9, AV1 or Motion JPEG packet announces, read from its header without
decoding it: a VP9 key frame's uncompressed header, an AV1 sequence header OBU, a JPEG's start of
frame. OpenCV's FFmpeg backend squeezes every frame of a container whose size changes part way into
its first size, and says nothing; ``container_sizes.SizeWatch`` reads these to name such a change."""

from __future__ import annotations

from collections.abc import Callable

from gateway.image_format import JPEG_START, jpeg_frame
from gateway.ingest.bitstream import BitReader

__all__ = ["FrameHeaders", "frame_headers"]

FrameHeaders = tuple[str, Callable[[bytes], tuple[int, int] | None]]
"""A codec's name and what reads the picture size a packet of it announces (None: it announces none)."""

_VP9_SYNC_CODE = 0x498342
_VP9_RGB = 7
_AV1_SEQUENCE_HEADER, _AV1_TEMPORAL_DELIMITER = 1, 2


def frame_headers(packet: bytes) -> FrameHeaders | None:
    """The codec of a container's first video packet ``packet``, when it is one whose picture size
    can be read (VP9, AV1, Motion JPEG), with what reads it."""
    if packet.startswith(JPEG_START):
        return "Motion JPEG", _motion_jpeg_size
    if _vp9_size(packet) is not None:
        return "VP9", _vp9_size
    first_obu = (packet[0] >> 3) & 0x0F if len(packet) > 0 else None
    if first_obu in (_AV1_SEQUENCE_HEADER, _AV1_TEMPORAL_DELIMITER) and _av1_size(packet) is not None:
        return "AV1", _av1_size
    return None


_DECODED_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xF7})
"""The coding types FFmpeg's Motion JPEG decoder takes (baseline, extended, progressive, lossless,
JPEG-LS): a frame of another (arithmetic or hierarchical) it drops, and the size its header gives is
no picture's. A damaged marker in one frame (a quantization table's, 0xDB, turned 0xCB) was named a
change of size for the rest of the file."""


def _motion_jpeg_size(packet: bytes) -> tuple[int, int] | None:
    """The size a Motion JPEG frame the decoder decodes gives."""
    frame = jpeg_frame(packet)
    return None if frame is None or frame[0] not in _DECODED_JPEG_FRAMES else (frame[1], frame[2])


def _vp9_size(packet: bytes) -> tuple[int, int] | None:
    """The size a VP9 key frame gives (VP9 bitstream specification 6.2), None for another frame."""
    try:
        header = BitReader(packet[:16])
        if header.bits(2) != 0b10:  # the frame marker
            return None
        profile = header.bits(1) | header.bits(1) << 1
        if profile == 3:
            header.skip(1)
        if header.bits(1) or header.bits(1):  # a frame shown again, or not a key frame
            return None
        header.skip(2)  # show_frame, error_resilient_mode
        if header.bits(24) != _VP9_SYNC_CODE:
            return None
        if profile >= 2:
            header.skip(1)  # ten or twelve bits
        if header.bits(3) != _VP9_RGB:
            header.skip(1 + (3 if profile in (1, 3) else 0))  # the range; the subsampling
        elif profile in (1, 3):
            header.skip(1)
        return header.bits(16) + 1, header.bits(16) + 1
    except ValueError:
        return None


def _av1_size(packet: bytes) -> tuple[int, int] | None:
    """The largest size the last sequence header OBU of an AV1 temporal unit gives (AV1 5.5)."""
    size, position = None, 0
    while position < len(packet):
        header = packet[position]
        kind, extended, sized = (header >> 3) & 0x0F, header >> 2 & 1, header >> 1 & 1
        position += 1 + extended
        length, position = _leb128(packet, position) if sized else (len(packet) - position, position)
        if kind == _AV1_SEQUENCE_HEADER:
            size = _av1_sequence_size(packet[position : position + length]) or size
        position += length
    return size


def _leb128(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    for index in range(8):
        if position >= len(data):
            break
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            break
    return value, position


def _av1_sequence_size(payload: bytes) -> tuple[int, int] | None:
    try:
        header = BitReader(payload[:64])
        header.skip(4)  # seq_profile, still_picture
        if header.bits(1):  # reduced_still_picture_header
            header.skip(5)
        else:
            decoder_model, delay_bits = _av1_timing(header)
            display_delay = header.bits(1)
            for _ in range(header.bits(5) + 1):  # the operating points
                header.skip(12)
                if header.bits(5) > 7:
                    header.skip(1)  # seq_tier
                if decoder_model and header.bits(1):
                    header.skip(2 * delay_bits + 1)
                if display_delay and header.bits(1):
                    header.skip(4)
        width_bits, height_bits = header.bits(4) + 1, header.bits(4) + 1
        return header.bits(width_bits) + 1, header.bits(height_bits) + 1
    except ValueError:
        return None


def _av1_timing(header: BitReader) -> tuple[bool, int]:
    """Past the timing and decoder model information: whether a decoder model is present, and the
    bits of its buffer delays."""
    if not header.bits(1):  # timing_info_present_flag
        return False, 0
    header.skip(64)  # num_units_in_display_tick, time_scale
    if header.bits(1):  # equal_picture_interval: num_ticks_per_picture_minus_1, uvlc()
        zeros = 0
        while not header.bits(1):
            zeros += 1
            if zeros >= 32:
                raise ValueError("a uvlc() code too long")
        header.skip(zeros)
    if not header.bits(1):  # decoder_model_info_present_flag
        return False, 0
    delay_bits = header.bits(5) + 1
    header.skip(32 + 5 + 5)
    return True, delay_bits
