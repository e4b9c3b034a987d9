"""The frame rate a raw stream's sequence parameter set gives in its video usability information
(ITU-T H.264 and H.265 annex E), which FFmpeg's raw demuxers do not read: they play every raw
``.h264``/``.h265`` file at 25 fps. ``skip_to_timing`` reads the fields both codecs' VUI open with."""

from __future__ import annotations

from gateway.ingest.bitstream import BitReader

__all__ = ["MAX_FRAME_RATE", "frame_rate", "skip_to_timing"]

MAX_FRAME_RATE = 240.0
"""A higher rate is a misread time base (a 90 kHz clock), not a camera's frame rate."""
_EXTENDED_SAR = 255  # aspect_ratio_idc whose sample aspect ratio is written out


def skip_to_timing(bits: BitReader) -> None:
    """Read past the aspect ratio, overscan, video signal type and chroma location fields, which open
    the VUI of H.264 (E.1.1) and H.265 (E.2.1) alike."""
    if bits.bits(1) and bits.bits(8) == _EXTENDED_SAR:
        bits.skip(32)
    if bits.bits(1):
        bits.skip(1)  # overscan appropriate
    if bits.bits(1):
        bits.skip(4)  # video format, full range
        if bits.bits(1):
            bits.skip(24)  # colour primaries, transfer, matrix
    if bits.bits(1):
        bits.unsigned()
        bits.unsigned()


def frame_rate(bits: BitReader, ticks_per_frame: int) -> float | None:
    """The frame rate of the timing information at ``bits`` (a clock's ticks per second over the
    ticks of a unit, ``ticks_per_frame`` units a frame: 2 in H.264, whose units are fields), or None
    where it is absent or no camera's."""
    if not bits.bits(1):
        return None
    units, scale = bits.bits(32), bits.bits(32)
    if units == 0 or scale == 0:
        return None
    rate = scale / (units * ticks_per_frame)
    return rate if rate <= MAX_FRAME_RATE else None
