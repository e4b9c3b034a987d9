"""The rest of a container file whose picture size changes part way is written out a bounded piece
at a time, made with the real ffmpeg and played through the real OpenCV source. The whole rest was
written out at once in the camera's reader thread when playback reached the change: no frame came
while it was written (gigabytes for a long recording, longer than ``read_timeout_s``: the camera was
reported stalled), and it took as much room in the temporary folder as in the file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from gateway.ingest import container_sizes
from gateway.ingest.sources import OpenCvSource
from tests.integration.ingest.media import decoded, ffmpeg

SMALL_FRAMES, LARGE_FRAMES, KEY_FRAME_INTERVAL = 10, 40, 5


def clip(path: Path, size: str, frames: int) -> Path:
    source = f"testsrc=size={size}:rate=25,trim=end_frame={frames}"
    ffmpeg("-f", "lavfi", "-i", source, "-c:v", "libx264", "-g", str(KEY_FRAME_INTERVAL),
           "-x264-params", "repeat-headers=1:scenecut=0", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    return path


def test_the_rest_of_a_container_is_written_and_played_a_piece_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a recording whose second, longer part has another size, and pieces bounded to the
    # least (each ends at the next key frame), as a recording of gigabytes meets the real bound
    temporary = tmp_path / "temporary"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setattr(container_sizes, "REST_PIECE_BYTES", 1, raising=False)
    small = clip(tmp_path / "small.mp4", "320x240", SMALL_FRAMES)
    large = clip(tmp_path / "large.mp4", "480x272", LARGE_FRAMES)
    listing = tmp_path / "parts.txt"
    listing.write_text(f"file '{small}'\nfile '{large}'\n")
    played = tmp_path / "camera.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(played))
    rest = tmp_path / "rest.h264"
    ffmpeg("-i", str(large), "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(rest))
    source = OpenCvSource(str(played), open_timeout_s=2, read_timeout_s=1)
    frames, largest_piece = [], 0
    try:
        # When: the file is played through, and on into its loop
        for _ in range(2 * SMALL_FRAMES + LARGE_FRAMES):
            frames.append(source.read())
            largest_piece = max([largest_piece, *(piece.stat().st_size for piece in temporary.iterdir())])
    finally:
        source.close()
    # Then: every frame of the second part, at its size, none lost where one piece gave way to the
    # next, and the file again from its start
    want = [*decoded(small), *decoded(large), *decoded(small)]
    assert [frame.shape for frame in frames] == [frame.shape for frame in want]
    assert all(np.array_equal(frame, expected) for frame, expected in zip(frames, want, strict=True))
    # And: no piece held more than a few key frame intervals of the rest, and none is left
    assert 0 < largest_piece < rest.stat().st_size / 2
    assert list(temporary.iterdir()) == []


def test_a_piece_of_the_rest_ends_at_a_key_frame_once_its_time_is_spent(tmp_path: Path) -> None:
    # Given: a recording whose second part has another size, its size watched up to that part
    small = clip(tmp_path / "small.mp4", "320x240", SMALL_FRAMES)
    large = clip(tmp_path / "large.mp4", "480x272", LARGE_FRAMES)
    listing = tmp_path / "parts.txt"
    listing.write_text(f"file '{small}'\nfile '{large}'\n")
    played = tmp_path / "camera.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(played))
    watch = container_sizes.SizeWatch.open(str(played), [])
    assert watch is not None
    try:
        assert watch.changes_by(float("inf"))
        # When: the rest is written with no time to spare, piece by piece
        pieces, more = [], True
        while more:
            piece, more = watch.rest_piece(0.0)
            with piece:
                pieces.append(Path(piece.name).read_bytes())
    finally:
        watch.close()
    # Then: one piece per key frame interval, each playing on its own, at the second size
    assert len(pieces) == LARGE_FRAMES // KEY_FRAME_INTERVAL
    for number, data in enumerate(pieces):
        path = tmp_path / f"piece-{number}.h264"
        path.write_bytes(data)
        assert [frame.shape for frame in decoded(path)] == [(272, 480, 3)] * KEY_FRAME_INTERVAL
