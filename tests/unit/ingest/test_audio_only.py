"""``audio_only`` on headers cut short or not known: "cannot tell" (None), never "audio only", so a
video is never refused for what its header reader could not follow. Real audio and video files are
in tests/integration/ingest/test_audio_files.py."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gateway.ingest.audio_only import audio_only
from gateway.ingest.mp4_boxes import MOST_TOP_LEVEL_BOXES


def box(kind: bytes, content: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(content), kind) + content


def large_box(kind: bytes, content: bytes) -> bytes:
    """A box with a 64-bit size (a size of 1, then the size itself)."""
    return struct.pack(">I4sQ", 1, kind, 16 + len(content)) + content


def track(handler: bytes) -> bytes:
    return box(b"trak", box(b"mdia", box(b"hdlr", b"\0" * 8 + handler + b"\0" * 12)))


def ebml(element: bytes, content: bytes) -> bytes:
    assert len(content) < 127
    return element + bytes([0x80 | len(content)]) + content


def matroska(*track_types: int) -> bytes:
    entries = b"".join(ebml(b"\xae", ebml(b"\x83", bytes([kind]))) for kind in track_types)
    return ebml(b"\x1a\x45\xdf\xa3", b"") + ebml(b"\x18\x53\x80\x67", ebml(b"\x16\x54\xae\x6b", entries))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            box(b"ftyp", b"M4A ") + box(b"moov", track(b"soun")),
            "an MP4 or QuickTime file of audio tracks only",
        ),
        (box(b"ftyp", b"isom") + box(b"moov", track(b"soun") + track(b"vide")), None),
        (box(b"ftyp", b"isom") + box(b"mdat", b"\0" * 64), None),  # no movie header: cannot tell
        (box(b"ftyp", b"isom") + struct.pack(">I4s", 0, b"mdat"), None),  # mdat to the end, no moov
        (box(b"ftyp", b"isom") + box(b"moov", b""), None),  # no track at all
        (
            box(b"ftyp", b"M4A ") + large_box(b"moov", track(b"soun")),
            "an MP4 or QuickTime file of audio tracks only",
        ),
        (
            box(b"ftyp", b"M4A ") + box(b"free", b"") + struct.pack(">I4s", 0, b"moov") + track(b"soun"),
            "an MP4 or QuickTime file of audio tracks only",
        ),
        (box(b"ftyp", b"isom") + struct.pack(">I4s", 1, b"mdat") + b"\0\0", None),  # cut short
        (matroska(2), "a Matroska file of audio tracks only"),
        (matroska(2, 1), None),
        (matroska(2)[:-4], None),  # its track list cut short: a video track may come next
        (b"\x1a\x45\xdf\xa3\x00", None),  # no valid EBML size
        (b"\xff\xd8\xff\xe0" + b"\0" * 16, None),  # a JPEG (raw MJPEG)
        (b"\x47\x40\x00\x10" + b"\0" * 184, None),  # an MPEG transport stream
        (b"\x00\x00\x00\x01\x67\x42", None),  # raw H.264
        (b"OggS\x00\x02" + b"\0" * 20 + b"\x01\x2a" + b"\x80theora" + b"\0" * 34, None),
        (b"", None),
    ],
    ids=[
        "m4a",
        "mp4-with-video",
        "mp4-no-moov",
        "mp4-mdat-to-end",
        "mp4-no-tracks",
        "m4a-moov-64-bit-size",
        "m4a-moov-to-the-end",
        "mp4-64-bit-size-cut-short",
        "mka",
        "mkv",
        "mkv-cut-short",
        "bad-ebml",
        "jpeg",
        "transport-stream",
        "h264",
        "ogg-theora",
        "empty",
    ],
)
def test_only_headers_that_show_sound_and_no_picture_are_audio_only(
    tmp_path: Path, data: bytes, expected: str | None
) -> None:
    (tmp_path / "file").write_bytes(data)
    assert audio_only(tmp_path / "file") == expected


def test_a_file_that_cannot_be_read_is_no_answer(tmp_path: Path) -> None:
    assert audio_only(tmp_path / "missing.m4a") is None


def test_a_file_of_more_top_level_boxes_than_any_recording_has_is_no_answer(tmp_path: Path) -> None:
    # A crafted file of empty boxes before its movie header was walked box by box to its end, in
    # the camera's reader thread: the walk stops where no recording has boxes left.
    padding = box(b"free", b"") * MOST_TOP_LEVEL_BOXES
    (tmp_path / "file").write_bytes(box(b"ftyp", b"M4A ") + padding + box(b"moov", track(b"soun")))
    assert audio_only(tmp_path / "file") is None
