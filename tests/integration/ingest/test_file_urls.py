"""File cameras named by ``file:`` URLs as other tools write them (percent-escaped, as
``Path.as_uri`` does; a ``#`` or ``?`` in a file name), read through the real OpenCV source from a
clip made with the real ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.errors import SourceError
from gateway.ingest.sources import OpenCvSource

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("urls") / "clip.mp4"
    source = "testsrc=size=160x120:rate=100,trim=end_frame=4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source, str(path)],
        check=True,
        timeout=60,
    )
    return path


def first_frame_shape(url: str) -> tuple[int, ...]:
    source = OpenCvSource(url, open_timeout_s=2, read_timeout_s=1)
    try:
        return tuple(source.read().shape)
    finally:
        source.close()


@pytest.mark.parametrize("name", ["my clip é.mp4", "cam#1.mp4", "cam?day=1.mp4"])
def test_a_file_url_names_the_file_it_was_written_for(clip: Path, tmp_path: Path, name: str) -> None:
    named = tmp_path / name
    shutil.copy(clip, named)
    # as_uri: percent-escapes for the space and the accent, %23 and %3F for # and ?
    assert first_frame_shape(named.as_uri()) == (120, 160, 3)
    assert first_frame_shape(f"file://{named}") == (120, 160, 3)


def test_a_file_url_naming_another_host_is_refused_by_name(clip: Path) -> None:
    with pytest.raises(SourceError, match="names the host 'videos'"):
        OpenCvSource(f"file://videos{clip}", open_timeout_s=2, read_timeout_s=1)
