"""``boxes`` on hand-made box headers: 32-bit and 64-bit sizes, a box to the end, and headers that
cannot be followed (cut short, a size smaller than its header), which end the walk, never raise."""

from __future__ import annotations

import io
import struct

import pytest

from gateway.ingest.mp4_boxes import Box, boxes


def box(kind: bytes, content: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(content), kind) + content


def large_box(kind: bytes, content: bytes) -> bytes:
    return struct.pack(">I4sQ", 1, kind, 16 + len(content)) + content


def walk(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    return list(boxes(io.BytesIO(data), start, end))


def test_each_box_is_its_type_content_offset_and_content_size() -> None:
    data = box(b"ftyp", b"isom") + box(b"free", b"") + box(b"mdat", b"\0" * 10)
    assert walk(data) == [Box(b"ftyp", 8, 4), Box(b"free", 20, 0), Box(b"mdat", 28, 10)]


def test_a_size_of_1_is_followed_by_a_64_bit_size_counting_both_headers() -> None:
    data = box(b"ftyp", b"isom") + large_box(b"mdat", b"\0" * 5) + box(b"moov", b"m")
    assert walk(data) == [Box(b"ftyp", 8, 4), Box(b"mdat", 28, 5), Box(b"moov", 41, 1)]


def test_a_64_bit_size_past_4_gib_is_read_whole() -> None:
    # A long recording's mdat, its content not here: the walk ends past the data, no next box.
    header = struct.pack(">I4sQ", 1, b"mdat", (5 << 32) + 16)
    assert walk(box(b"ftyp", b"isom") + header) == [Box(b"ftyp", 8, 4), Box(b"mdat", 28, 5 << 32)]


def test_a_size_of_0_runs_to_the_end_of_the_file() -> None:
    data = box(b"ftyp", b"isom") + struct.pack(">I4s", 0, b"mdat") + b"\0" * 7
    assert walk(data) == [Box(b"ftyp", 8, 4), Box(b"mdat", 20, 7)]


def test_a_size_of_0_inside_a_box_runs_to_the_end_of_that_box() -> None:
    inner = struct.pack(">I4s", 0, b"free") + b"\0" * 3
    data = box(b"moov", inner) + box(b"udta", b"")
    assert walk(data, 8, 8 + len(inner)) == [Box(b"free", 16, 3)]


@pytest.mark.parametrize(
    "tail",
    [
        b"\0\0\0\x10mda",  # 7 bytes: a header cut short
        struct.pack(">I4s", 1, b"mdat") + b"\0\0\0",  # its 64-bit size cut short
    ],
    ids=["header", "large-size"],
)
def test_a_header_cut_short_is_no_box(tail: bytes) -> None:
    assert walk(box(b"ftyp", b"isom") + tail) == [Box(b"ftyp", 8, 4)]


@pytest.mark.parametrize(
    "header",
    [
        struct.pack(">I4sQ", 1, b"mdat", 15),
        struct.pack(">I4sQ", 1, b"mdat", 0),
        struct.pack(">I4s", 4, b"mdat"),
        struct.pack(">I4s", 7, b"mdat"),
    ],
    ids=["large-size-15", "large-size-0", "size-4", "size-7"],
)
def test_a_size_smaller_than_its_header_ends_the_walk(header: bytes) -> None:
    # Where the next box starts cannot be known: the moov after it is not looked for.
    data = box(b"ftyp", b"isom") + header + b"\0" * 16 + box(b"moov", b"")
    assert walk(data) == [Box(b"ftyp", 8, 4)]


def test_the_box_being_written_says_what_its_header_says() -> None:
    # A recorder's mdat, its header written first with the size it will have.
    data = box(b"ftyp", b"isom") + struct.pack(">I4s", 1000, b"mdat") + b"\0" * 10
    assert walk(data) == [Box(b"ftyp", 8, 4), Box(b"mdat", 20, 992)]


def test_the_walk_stays_between_its_bounds() -> None:
    inner = box(b"trak", b"t") + box(b"trak", b"u")
    data = box(b"moov", inner) + box(b"udta", b"")
    assert walk(data, 8, 8 + len(inner)) == [Box(b"trak", 16, 1), Box(b"trak", 25, 1)]
    assert walk(data, 8, 8 + len(inner) + 4) == [Box(b"trak", 16, 1), Box(b"trak", 25, 1)]


def test_an_end_past_the_data_ends_where_the_data_does() -> None:
    assert walk(box(b"ftyp", b"isom") + b"\0\0\0", 0, 1000) == [Box(b"ftyp", 8, 4)]


def test_no_data_is_no_box() -> None:
    assert walk(b"") == []
