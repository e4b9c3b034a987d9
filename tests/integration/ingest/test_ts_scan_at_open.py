"""A file camera on a large MPEG transport stream shows its first frame without a scan of the whole
file: the scan for where its video codec changes (``transport_stream.py``) read every byte at open,
in the camera's reader thread, before the first frame (seconds for a file of many GB, again each
time the file was replaced). It now looks a step at a time as playback nears each part's end; the
parts of each codec still play at their own, found so, with steps small enough to cut the test
files into many."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.ingest import transport_stream
from gateway.ingest.sources import OpenCvSource
from gateway.ingest.transport_stream import PACKET_BYTES, CodecScan, codec_segments
from tests.integration.ingest.media import assert_plays_parts_in_turn, decoded
from tests.integration.ingest.page_cache import bytes_cached, repeated_out_of_cache
from tests.integration.ingest.test_ts_codec_change import transport_stream as make_transport_stream


def _large_transport_stream(tmp_path: Path) -> tuple[Path, Path]:
    """A transport stream of one codec many scan steps long (a short recording repeated, so its
    timestamps start over each time), none of it in the page cache; long enough that the kernel's
    read-ahead (some MB past each read, on a virtual disk) is a small part of it too. The short
    recording is given with it."""
    short = make_transport_stream(tmp_path / "short.ts", "h264", "testsrc")
    return repeated_out_of_cache(short, tmp_path / "camera.ts", 64 * transport_stream.SCAN_BYTES), short


def test_the_first_frame_of_a_large_transport_stream_reads_a_small_part_of_it(tmp_path: Path) -> None:
    # Given: a large transport stream, not in the page cache
    large, short = _large_transport_stream(tmp_path)
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


def test_playing_on_where_timestamps_start_over_reads_a_small_part_of_the_file(tmp_path: Path) -> None:
    # Given: a large transport stream whose timestamps start over after each short recording, not in
    # the page cache
    large, short = _large_transport_stream(tmp_path)
    frames = decoded(short)
    # When: a source plays the first recording through and on into the second (its picture size
    # watched: no packet of the rest has a timestamp past the first recording's last frame's)
    source = OpenCvSource(str(large), open_timeout_s=2, read_timeout_s=1)
    try:
        played = [source.read() for _ in range(len(frames) + 2)]
        read_by_then = bytes_cached(large)
    finally:
        source.close()
    # Then: the frames play in turn, and the watch read on a bounded way, not the rest of the file
    assert all(np.array_equal(frame, want) for frame, want in zip(played, [*frames, *frames], strict=False))
    assert read_by_then < large.stat().st_size // 4


@pytest.mark.parametrize("step_packets", [1, 7, 50])
def test_a_scan_a_step_at_a_time_finds_the_parts_a_whole_scan_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step_packets: int
) -> None:
    first = make_transport_stream(tmp_path / "first.ts", "h264", "testsrc")
    second = make_transport_stream(tmp_path / "second.ts", "h265", "smptebars")
    joined = tmp_path / "camera.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes() + first.read_bytes())
    whole = codec_segments(joined)
    assert whole is not None
    assert len(whole) == 3
    monkeypatch.setattr(transport_stream, "SCAN_BYTES", step_packets * PACKET_BYTES)
    scan = CodecScan.open(joined)
    assert scan is not None
    try:
        # Each part's end found by wanting the bytes past it, as its reader does
        ends = [scan.reach(index, 1 << 62) for index in range(3)]
        assert scan.done
        assert scan.segments() == whole
        assert ends == [end for _, end in whole]
    finally:
        scan.close()


@pytest.mark.parametrize(("first", "second"), [("h264", "h265"), ("h265", "h264")])
def test_each_codec_of_a_transport_stream_scanned_in_steps_plays_its_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str, second: str
) -> None:
    # Given: scan steps far smaller than each part (a part's end is found as it plays)
    monkeypatch.setattr(transport_stream, "SCAN_BYTES", 20 * PACKET_BYTES)
    before = make_transport_stream(tmp_path / "before.ts", first, "testsrc")
    after = make_transport_stream(tmp_path / "after.ts", second, "smptebars")
    joined = tmp_path / "camera.ts"
    joined.write_bytes(before.read_bytes() + after.read_bytes())
    # When played through and on into its loop, then: each part's frames in turn, the first's again
    assert_plays_parts_in_turn(joined, [before, after])


def test_each_size_of_a_codec_scanned_in_steps_plays_at_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_stream, "SCAN_BYTES", 20 * PACKET_BYTES)
    parts = [
        make_transport_stream(tmp_path / f"{index}.ts", codec, pattern, size, index * 2 * 10 / 25)
        for index, (codec, pattern, size) in enumerate(
            [
                ("h264", "testsrc", "320x240"),
                ("h264", "smptebars", "480x272"),
                ("h265", "rgbtestsrc", "320x240"),
            ]
        )
    ]
    joined = tmp_path / "camera.ts"
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    assert_plays_parts_in_turn(joined, parts)


def test_a_transport_stream_of_one_codec_scanned_in_steps_plays_on_into_its_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_stream, "SCAN_BYTES", 20 * PACKET_BYTES)
    first = make_transport_stream(tmp_path / "first.ts", "h264", "testsrc")
    second = make_transport_stream(tmp_path / "second.ts", "h264", "smptebars")
    joined = tmp_path / "camera.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    # Played twice over: the second pass plays the file whole, its scan done
    frames = [*decoded(first), *decoded(second)]
    source = OpenCvSource(str(joined), open_timeout_s=2, read_timeout_s=1)
    try:
        played = [source.read() for _ in range(2 * len(frames))]
    finally:
        source.close()
    assert all(np.array_equal(frame, want) for frame, want in zip(played, frames * 2, strict=True))
