"""Where an MP4 whose boxes run past its end is looked into for its index (``moov``, found by its
first box, ``mvhd``): the first ``HEAD_BYTES`` past the box that overruns and the last
``TAIL_BYTES``, in chunks. A camera's every retry on a recording still being written makes this
search, so it reads a bounded part of the file however large; an index found means a damaged box
size, none a recording not finished yet."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gateway.ingest import file_diagnosis

FILE_TYPE = struct.pack(">I4s", 16, b"ftyp") + b"isom\x00\x00\x02\x00"
INDEX = struct.pack(">I4s", 108, b"moov") + struct.pack(">I4s", 100, b"mvhd")


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_diagnosis, "HEAD_BYTES", 200)
    monkeypatch.setattr(file_diagnosis, "TAIL_BYTES", 300)
    monkeypatch.setattr(file_diagnosis, "_CHUNK_BYTES", 32)  # an index is cut between chunks


def problem(tmp_path: Path, index_at: int | None, size: int = 2000) -> str | None:
    """What a file of ``size`` bytes is said to be, whose media box says 1 GB, with an index starting
    ``index_at`` bytes past that box's content (None: no index)."""
    data = bytearray(FILE_TYPE + struct.pack(">I4s", 1 << 30, b"mdat") + bytes(size))
    if index_at is not None:
        at = len(FILE_TYPE) + 8 + index_at
        data[at : at + len(INDEX)] = INDEX
    path = tmp_path / "camera.mp4"
    path.write_bytes(bytes(data[:size]))
    return file_diagnosis.mp4_problem(path, "camera.mp4")


@pytest.mark.parametrize("index_at", [0, 21, 150, 1800, 1960])
def test_an_index_in_the_first_or_last_bytes_searched_is_found(tmp_path: Path, index_at: int) -> None:
    said = problem(tmp_path, index_at)
    assert said is not None
    assert said.endswith(f"over its index, the moov box at byte {len(FILE_TYPE) + 8 + index_at:,})")


def test_an_index_between_the_windows_is_not_looked_for(tmp_path: Path) -> None:
    # (bytes 224 to 1700 of the file are not read: the recording still being written is named)
    said = problem(tmp_path, 1000)
    assert said is not None
    assert "a recording still being written" in said


def test_an_index_cut_where_the_head_meets_the_tail_is_found(tmp_path: Path) -> None:
    # Given a file of 495 bytes, whose tail window starts at byte 195, within the head's reach (24 to
    # 224), and an index from byte 189 to 201, across that point
    said = problem(tmp_path, 189 - len(FILE_TYPE) - 8, size=495)
    assert said is not None
    assert "over its index" in said


def test_without_an_index_it_is_a_recording_still_being_written(tmp_path: Path) -> None:
    said = problem(tmp_path, None)
    assert said is not None
    assert "a recording still being written" in said


def fourcc(code: str) -> int:
    return int.from_bytes(code.encode("ascii"), "little")


@pytest.mark.parametrize(
    ("code", "width", "height", "said"),
    [
        ("h264", 320, 180, "no frame of its H.264 video of 320x180 could be decoded (damaged data?)"),
        ("hevc", 0, 0, "no frame of its H.265 video could be decoded (damaged data?)"),
        ("MJPG", 640, 480, "no frame of its Motion JPEG video of 640x480 could be decoded"),
        ("xyz1", 8, 8, "no frame of its xyz1 video of 8x8"),
        ("", 8, 8, "no frame of its video of 8x8"),
        ("h264", 8192, 4352, "of 8192x4352 could be decoded (damaged data?)"),
        ("h264", 8192, 4353, "of 8192x4353 could be decoded (a damaged header? no level of H.264 or H.265"),
    ],
)
def test_a_file_whose_first_frame_does_not_decode_is_named_with_its_codec_and_size(
    code: str, width: int, height: int, said: str
) -> None:
    message = file_diagnosis.no_frame_decoded("camera.ts", fourcc(code) if code else 0, width, height)
    assert message.startswith("not a readable video: camera.ts: ")
    assert said in message
