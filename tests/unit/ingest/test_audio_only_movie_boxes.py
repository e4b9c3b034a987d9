"""``audio_only`` on an MP4 whose movie header (``moov``) is crafted of a great many empty boxes: the
walk to its tracks' handlers read every box header in it, up to the 64 MiB a moov may hold (seconds,
in the camera's reader thread, before the file was even opened). It now stops after more boxes than
any recording's moov holds, answering "cannot tell" (None). The box headers read are counted, the
walk itself is the real one."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from gateway.ingest import audio_only as audio_only_module
from gateway.ingest.audio_only import audio_only
from gateway.ingest.mp4_boxes import Box, boxes

EMPTY_BOXES = 50_000
MOST_HEADERS_READ = 10_000  # the moov's own bound, with the top level's few


def box(kind: bytes, content: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(content), kind) + content


def track(handler: bytes) -> bytes:
    return box(b"trak", box(b"mdia", box(b"hdlr", b"\0" * 8 + handler + b"\0" * 12)))


@pytest.fixture
def headers_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many box headers ``audio_only`` has read, counted as the real walk yields them."""
    count = [0]

    def counted(stream: BinaryIO, start: int = 0, end: int | None = None) -> Iterator[Box]:
        for found in boxes(stream, start, end):
            count[0] += 1
            yield found

    monkeypatch.setattr(audio_only_module, "boxes", counted)
    return count


@pytest.mark.parametrize(
    "movie",
    [
        box(b"free", b"") * EMPTY_BOXES + track(b"soun"),
        box(b"trak", box(b"free", b"") * EMPTY_BOXES) + track(b"soun"),
        box(b"trak", box(b"mdia", box(b"free", b"") * EMPTY_BOXES)) + track(b"soun"),
    ],
    ids=["in-the-moov", "in-a-track", "in-a-track's-media"],
)
def test_a_movie_header_of_more_boxes_than_any_recording_has_is_no_answer(
    tmp_path: Path, headers_read: list[int], movie: bytes
) -> None:
    (tmp_path / "file.m4a").write_bytes(box(b"ftyp", b"M4A ") + box(b"moov", movie))
    assert audio_only(tmp_path / "file.m4a") is None
    assert headers_read[0] <= MOST_HEADERS_READ


def test_a_movie_header_of_many_tracks_is_still_read(tmp_path: Path, headers_read: list[int]) -> None:
    # A recorder's moov: a movie header, then its tracks, each a handful of boxes deep
    movie = box(b"mvhd", b"\0" * 100) + track(b"soun") * 500 + box(b"udta", b"")
    (tmp_path / "file.m4a").write_bytes(box(b"ftyp", b"M4A ") + box(b"moov", movie))
    assert audio_only(tmp_path / "file.m4a") == "an MP4 or QuickTime file of audio tracks only"
    (tmp_path / "file.mp4").write_bytes(box(b"ftyp", b"isom") + box(b"moov", movie + track(b"vide")))
    assert audio_only(tmp_path / "file.mp4") is None
