"""What a file camera's path names, on real files in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.errors import SourceError
from gateway.ingest.files import (
    decoded_file_path,
    ffmpeg_pattern,
    file_problem,
    local_path,
    next_in_sequence,
    sequence_image,
    sequence_start,
)


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


@pytest.mark.parametrize(
    ("pattern", "names", "start"),
    [
        ("img%03d.png", ["img100.png", "img101.png", "img099.png"], 99),
        ("img%03d.png", ["img0007.png", "img100.png"], 100),
        ("frame-%d.jpg", ["frame-07.jpg", "frame-12.jpg"], 12),
        ("frame-%0d.jpg", ["frame-.jpg", "frame-3.jpg"], 3),
        ("100%%-%04d.jpg", ["100%-0042.jpg"], 42),
    ],
    ids=["smallest", "not-printed-by-the-pattern", "no-padding", "zero-width", "literal-percent"],
)
def test_a_sequence_starts_at_its_smallest_number_as_the_pattern_prints_it(
    tmp_path: Path, pattern: str, names: list[str], start: int
) -> None:
    # FFmpeg's image2 demuxer looks among 0 to 4 alone unless given this as start_number
    for name in names:
        (tmp_path / name).write_bytes(b"\0")
    assert sequence_start(tmp_path / pattern) == start
    assert file_problem(tmp_path / pattern) is None


def test_a_sequence_numbered_past_what_ffmpeg_takes_says_so(tmp_path: Path) -> None:
    (tmp_path / "img9999999999.png").write_bytes(b"\0")
    assert file_problem(tmp_path / "img%03d.png") == (
        f"the sequence {tmp_path / 'img%03d.png'} starts at 9999999999, past the largest frame number "
        "FFmpeg takes"
    )


def test_no_start_for_what_is_no_sequence(tmp_path: Path) -> None:
    assert sequence_start(tmp_path / "clip.mp4") is None
    assert sequence_start(tmp_path / "img%03d.png") is None
    assert sequence_start(tmp_path / "gone" / "img%03d.png") is None


def test_a_file_url_with_percent_escapes_names_the_decoded_file(tmp_path: Path) -> None:
    # Given: a clip whose name has a space and an accent, written as Path.as_uri() writes it
    video = tmp_path / "my clip é.mp4"
    video.write_bytes(b"\0")
    assert local_path(video.as_uri()) == str(video)
    assert local_path(f"file://localhost{tmp_path}/my%20clip%20%C3%A9.mp4") == str(video)


def test_a_file_url_is_taken_as_written_where_that_names_something(tmp_path: Path) -> None:
    # A literal name with an escape-like part, and an image sequence (whose %03 is no escape)
    (tmp_path / "100%25.mp4").write_bytes(b"\0")
    (tmp_path / "img001.png").write_bytes(b"\0")
    assert local_path(f"file://{tmp_path}/100%25.mp4") == f"{tmp_path}/100%25.mp4"
    assert local_path(f"file://{tmp_path}/img%03d.png") == f"{tmp_path}/img%03d.png"
    # and a plain path is never decoded
    assert local_path(f"{tmp_path}/my%20clip.mp4") == f"{tmp_path}/my%20clip.mp4"


@pytest.mark.parametrize(
    ("path", "decoded"),
    [
        # A literal '%' is %25 in a folder; the frame number of the last segment stays the pattern.
        ("/x/100%25/img%03d.png", "/x/100%/img%03d.png"),
        ("/x/my%20clips/img%d.png", "/x/my clips/img%d.png"),
        ("/x/img%10d.png", "/x/img%10d.png"),
        # Beside a frame number, a literal '%' is doubled, as the sequence's pattern writes one.
        ("/x/50%25-img%05d.png", "/x/50%%-img%05d.png"),
        # No frame number: every escape is decoded (a file named "img%03d.png", or a sequence).
        ("/x/img%2503d.png", "/x/img%03d.png"),
        ("/x/my%20clip%20%C3%A9.mp4", "/x/my clip \u00e9.mp4"),
        # %5d is an escape (']'), not a width-5 frame number: an escape never decodes to a control.
        ("/x/img%5d.png", "/x/img].png"),
    ],
)
def test_a_file_url_path_decodes_its_escapes_and_keeps_its_frame_number(path: str, decoded: str) -> None:
    assert decoded_file_path(path) == decoded


def test_a_file_url_of_a_sequence_in_a_folder_with_a_percent_sign_names_it(tmp_path: Path) -> None:
    (tmp_path / "100%").mkdir()
    (tmp_path / "100%" / "img001.png").write_bytes(b"\0")
    expected = f"{tmp_path}/100%/img%03d.png"
    assert local_path(f"file://{tmp_path}/100%25/img%03d.png") == expected


@pytest.mark.parametrize("name", ["cam#1.mp4", "cam?day=1.mp4"])
def test_a_file_url_keeps_a_hash_or_question_mark_in_its_file_name(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\0")
    assert local_path(f"file://{tmp_path}/{name}") == str(tmp_path / name)


def test_a_file_url_naming_another_host_is_refused(tmp_path: Path) -> None:
    # file://videos/clip.mp4 looks like a relative path but is /clip.mp4 on the host "videos"
    with pytest.raises(SourceError) as raised:
        local_path("file://videos/clip.mp4")
    assert str(raised.value) == (
        "the file url names the host 'videos'; a file camera reads this machine's files: "
        "write file:///absolute/path or a plain path"
    )
    # without what a user name and password would show
    with pytest.raises(SourceError, match="names the host 'nas'; ") as raised:
        local_path("file://user:secret@nas/clip.mp4")
    assert "secret" not in str(raised.value)


def test_the_next_image_of_a_sequence_is_the_next_one_there(tmp_path: Path) -> None:
    for number in (3, 4, 9, 12):
        (tmp_path / f"img{number:03d}.png").write_bytes(b"\0")
    pattern = tmp_path / "img%03d.png"
    assert [next_in_sequence(pattern, after) for after in (0, 3, 4, 9, 12)] == [3, 4, 9, 12, None]
    assert sequence_image(pattern, 9) == tmp_path / "img009.png"
    assert sequence_image(tmp_path / "100%%-%d.jpg", 7) == tmp_path / "100%-7.jpg"


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("/srv/100%/img%03d.png", "/srv/100%%/img%03d.png"),
        ("run%d/img%03d.png", "run%%d/img%03d.png"),
        ("img%03d.png", "img%03d.png"),
        ("/srv/frames/100%%-%d.png", "/srv/frames/100%%-%d.png"),
    ],
)
def test_a_percent_sign_in_a_sequence_folder_is_doubled_for_ffmpeg(path: str, pattern: str) -> None:
    # FFmpeg's image2 demuxer takes the whole path for the pattern, folders too
    assert ffmpeg_pattern(path) == pattern


def test_a_symbolic_link_loop_is_named_as_one(tmp_path: Path) -> None:
    # It was "no such video file", for a path that is there
    (tmp_path / "a.mp4").symlink_to(tmp_path / "b.mp4")
    (tmp_path / "b.mp4").symlink_to(tmp_path / "a.mp4")
    (tmp_path / "frames").symlink_to(tmp_path / "frames")
    assert file_problem(tmp_path / "a.mp4") == (
        f"{tmp_path / 'a.mp4'} goes through a symbolic link that leads back to itself (a link loop)"
    )
    assert file_problem(tmp_path / "frames" / "img%03d.png") == (
        f"{tmp_path / 'frames' / 'img%03d.png'} goes through a symbolic link that leads back to itself "
        "(a link loop)"
    )


def test_a_link_to_nothing_and_a_file_taken_for_a_folder_are_named(tmp_path: Path) -> None:
    (tmp_path / "today.mp4").symlink_to(tmp_path / "2026-01-01.mp4")
    assert file_problem(tmp_path / "today.mp4") == (
        f"{tmp_path / 'today.mp4'} is a symbolic link to {tmp_path / '2026-01-01.mp4'}, which does not exist"
    )
    (tmp_path / "clip.mp4").write_bytes(b"\0")
    assert file_problem(tmp_path / "clip.mp4" / "img%03d.png") == (
        f"cannot look at {tmp_path / 'clip.mp4' / 'img%03d.png'}: Not a directory"
    )
