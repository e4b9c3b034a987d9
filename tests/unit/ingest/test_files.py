"""What a file camera's path names, on real files in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.ingest.files import file_problem


def test_a_regular_file_is_fine_and_a_missing_one_is_named(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0")
    assert file_problem(video) is None
    assert file_problem(tmp_path / "gone.mp4") == f"no such video file: {tmp_path / 'gone.mp4'}"


def test_a_directory_or_a_pipe_is_not_a_video_file(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    assert file_problem(tmp_path) == f"{tmp_path} is a directory, not a video file"
    assert "not a regular file" in (file_problem(pipe) or "")


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("img%03d.png", ["img001.png", "img002.png"]),
        ("frame-%d.jpg", ["frame-7.jpg"]),
        ("100%%-%04d.jpg", ["100%-0000.jpg"]),
    ],
)
def test_an_image_sequence_with_an_image_is_a_source(tmp_path: Path, pattern: str, names: list[str]) -> None:
    for name in names:
        (tmp_path / name).write_bytes(b"\0")
    assert file_problem(tmp_path / pattern) is None


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("img%03d.png", []),
        ("img%03d.png", ["img01.png", "img001.jpg", "image001.png"]),
    ],
)
def test_an_image_sequence_matching_no_image_says_so(tmp_path: Path, pattern: str, names: list[str]) -> None:
    for name in names:
        (tmp_path / name).write_bytes(b"\0")
    assert file_problem(tmp_path / pattern) == f"no image matches the sequence {tmp_path / pattern}"


def test_a_name_with_two_frame_numbers_or_a_missing_folder_is_no_sequence(tmp_path: Path) -> None:
    (tmp_path / "a1b1.png").write_bytes(b"\0")
    assert file_problem(tmp_path / "a%db%d.png") == f"no such video file: {tmp_path / 'a%db%d.png'}"
    assert file_problem(tmp_path / "gone" / "img%03d.png") is not None
