"""Which codec a raw stream starting 00 00 01 is: H.264 and H.265 by their first NAL unit, and none
for the MPEG-1, MPEG-2 and MPEG-4 Part 2 streams that start so too (their slices were read as H.264
parameter sets). Real streams of each kind are in tests/integration/ingest/."""

from __future__ import annotations

import pytest

from gateway.ingest.elementary import H264, H265, Codec, stream_codec


@pytest.mark.parametrize(
    ("start", "codec"),
    [
        (b"\x00\x00\x00\x01\x67\x64", H264),  # a sequence parameter set, four-byte start code
        (b"\x00\x00\x01\x09\xf0", H264),  # an access unit delimiter
        (b"\x00\x00\x01\x06\x05", H264),  # an SEI
        (b"\x00\x00\x01\x65\x88", H264),  # an IDR slice: a stream cut part way
        (b"\x00\x00\x00\x01\x40\x01", H265),  # a video parameter set
        (b"\x00\x00\x01\x46\x01", H265),  # an access unit delimiter
        (b"\x00\x00\x01\xb3\x16", None),  # MPEG-1/2 sequence header
        (b"\x00\x00\x01\xb0\x01", None),  # MPEG-4 Part 2 visual object sequence
        (b"\x00\x00\x01\x00\x00", None),  # MPEG-4 Part 2 video object, MPEG-2 picture
        (b"\x00\x00\x01\x20\x08", None),  # MPEG-4 Part 2 video object layer
        (b"\x00\x00\x01\x05\x88", None),  # an IDR slice of no importance: not H.264
        (b"\x00\x00\x01\x07\x64", None),  # a parameter set of no importance, or MPEG-2 slice 7
        (b"\x1a\x45\xdf\xa3\x01", None),  # a container
    ],
)
def test_the_codec_of_a_raw_stream_is_told_from_its_first_unit(start: bytes, codec: Codec | None) -> None:
    assert stream_codec(start) is codec
