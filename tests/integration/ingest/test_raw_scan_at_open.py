"""A file camera on a large raw H.264 or H.265 stream shows its first frame without a scan of the
whole file: the scan for where its picture size or codec changes (``elementary.py``) read every byte
at open, in the camera's reader thread, before the first frame (seconds for a file of many GB, again
each time the file was replaced). It now looks a step at a time as playback nears each part's end,
as a transport stream's scan does; the parts of each size and codec still play at their own, found
so, with steps small enough to cut the test files into many."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from gateway.ingest import elementary
from gateway.ingest.elementary import SizeScan, size_segments
from gateway.ingest.sources import OpenCvSource
from tests.integration.ingest.media import assert_plays_parts_in_turn, decoded
from tests.integration.ingest.page_cache import bytes_cached, repeated_out_of_cache
from tests.integration.ingest.test_file_size_change import raw_stream


def _large_raw_stream(tmp_path: Path) -> tuple[Path, Path]:
    """A raw H.264 stream of one size many scan steps long (a short recording repeated), none of it
    in the page cache; long enough that the kernel's read-ahead and FFmpeg's probe are a small part
    of it too. The short recording is given with it."""
    short = raw_stream(tmp_path / "short.h264", 320, 240)
    return repeated_out_of_cache(short, tmp_path / "camera.h264", 64 * elementary.SCAN_BYTES), short


def test_the_first_frame_of_a_large_raw_stream_reads_a_small_part_of_it(tmp_path: Path) -> None:
    # Given: a large raw stream, not in the page cache
    large, short = _large_raw_stream(tmp_path)
    # When: a source opens it and reads its first frame
    source = OpenCvSource(str(large), open_timeout_s=2, read_timeout_s=1)
    try:
        first = source.read()
        read_before_first_frame = bytes_cached(large)
    finally:
        source.close()
    # Then: the frame is the recording's first, and a small part of the file was read for it
    assert np.array_equal(first, decoded(short)[0])
    assert read_before_first_frame < large.stat().st_size // 4


def _three_parts(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A raw file of three parts: H.264 at 320x240, H.264 at 480x272, H.265 at 320x240."""
    parts = [
        raw_stream(tmp_path / "small.h264", 320, 240),
        raw_stream(tmp_path / "large.h264", 480, 272),
        raw_stream(tmp_path / "small.h265", 320, 240, codec="h265"),
    ]
    joined = tmp_path / "camera.raw"
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    return joined, parts


@pytest.mark.parametrize("step_bytes", [1, 7, 100, 5000])
def test_a_scan_a_step_at_a_time_finds_the_parts_a_whole_scan_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step_bytes: int
) -> None:
    joined, parts = _three_parts(tmp_path)
    sizes = [part.stat().st_size for part in parts]
    bounds = [sum(sizes[:index]) for index in range(len(parts) + 1)]
    whole = size_segments(joined)
    assert whole == list(pairwise(bounds))
    monkeypatch.setattr(elementary, "SCAN_BYTES", step_bytes)
    scan = SizeScan.open(joined)
    assert scan is not None
    try:
        # Each part's end found by wanting the bytes past it, as its reader does
        ends = [scan.reach(index, 1 << 62) for index in range(3)]
        assert scan.done
        assert scan.segments() == whole
        assert ends == bounds[1:]
    finally:
        scan.close()


def test_a_step_short_of_its_part_end_gives_no_more_than_the_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: steps far smaller than the first part
    joined, parts = _three_parts(tmp_path)
    first = parts[0].stat().st_size
    monkeypatch.setattr(elementary, "SCAN_BYTES", 100)
    scan = SizeScan.open(joined)
    assert scan is not None
    try:
        # When: its reader wants the bytes up to each point inside the first part, then past it
        reached = [scan.reach(0, position) for position in range(1, first, 997)]
        # Then: the part is known at least that far, never past its end, and then ends at it
        assert all(
            position <= known <= first for position, known in zip(range(1, first, 997), reached, strict=True)
        )
        assert not scan.done
        assert scan.reach(0, first + 1) == first
    finally:
        scan.close()


def test_each_part_of_a_raw_file_scanned_in_steps_plays_at_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: scan steps far smaller than each part (a part's end is found as it plays)
    monkeypatch.setattr(elementary, "SCAN_BYTES", 300)
    joined, parts = _three_parts(tmp_path)
    # When played through and on into its loop, then: each part's frames in turn, the first's again
    assert_plays_parts_in_turn(joined, parts)


def test_a_raw_file_of_one_size_scanned_in_steps_plays_on_into_its_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elementary, "SCAN_BYTES", 300)
    short = raw_stream(tmp_path / "short.h264", 320, 240)
    joined = tmp_path / "camera.h264"
    joined.write_bytes(short.read_bytes() * 2)
    # Played twice over: the second pass plays the file whole, its scan done
    frames = decoded(joined)
    source = OpenCvSource(str(joined), open_timeout_s=2, read_timeout_s=1)
    try:
        played = [source.read() for _ in range(2 * len(frames))]
    finally:
        source.close()
    assert all(np.array_equal(frame, want) for frame, want in zip(played, frames * 2, strict=True))
