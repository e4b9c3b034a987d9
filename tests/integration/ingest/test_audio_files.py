"""File cameras pointed at a file of sound and no picture, made with the real ffmpeg and opened through
the real OpenCV source and camera reader: the camera fails saying the file holds audio only. It said
"not a readable video (empty, truncated, or no video stream)" like a broken file, and an MP3 or M4A
with cover art opened and streamed its cover, one still picture, as if it were a camera."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.config import CameraConfig
from gateway.domain import CameraState
from gateway.errors import SourceError
from gateway.ingest.camera import Camera
from gateway.ingest.sources import OpenCvSource, source_factory
from tests.integration.ingest.conftest import wait_until

TONE = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
PICTURE = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25,trim=end_frame=10"]
# Each audio file, with the ffmpeg options that make it from the tone, and the kind it is named.
AUDIO = {
    "tone.wav": ([], "a WAV file"),
    "tone.mp3": ([], "an MP3 file"),
    "tone.aac": ([], "an AAC file (ADTS)"),
    "tone.flac": ([], "a FLAC file"),
    "tone.ogg": ([], "an Ogg file of audio only"),
    "tone.opus": ([], "an Ogg file of audio only"),
    "tone.m4a": ([], "an MP4 or QuickTime file of audio tracks only"),
    "audio.mp4": (["-c:a", "aac"], "an MP4 or QuickTime file of audio tracks only"),
    "audio.mov": (["-c:a", "aac"], "an MP4 or QuickTime file of audio tracks only"),
    "streamed.mp4": (
        ["-c:a", "aac", "-movflags", "frag_keyframe+empty_moov"],
        "an MP4 or QuickTime file of audio tracks only",
    ),
    "tone.mka": ([], "a Matroska file of audio tracks only"),
    "audio.webm": (["-c:a", "libopus"], "a Matroska file of audio tracks only"),
}
# Files of sound and picture, which are videos like any other.
BOTH = {
    "both.mp4": ["-c:v", "libx264", "-c:a", "aac"],
    "both.mov": ["-c:v", "libx264", "-c:a", "aac"],
    "both.mkv": ["-c:v", "libx264", "-c:a", "libvorbis"],
    "both.webm": ["-c:v", "libvpx-vp9", "-c:a", "libopus"],
    "both.ogv": ["-c:v", "libtheora", "-c:a", "libvorbis"],
}


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True, timeout=60)


def refusal(path: Path) -> str:
    with pytest.raises(SourceError) as refused:
        OpenCvSource(str(path), open_timeout_s=2, read_timeout_s=1).close()
    return str(refused.value)


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_an_audio_file_is_named_audio_only(tmp_path: Path, name: str) -> None:
    options, kind = AUDIO[name]
    ffmpeg(*TONE, *options, str(tmp_path / name))
    assert refusal(tmp_path / name) == (
        f"not a readable video: {tmp_path / name} holds audio only, no video stream ({kind})"
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [("tone.mp3", "an MP3 file"), ("tone.m4a", "an MP4 or QuickTime file of audio tracks only")],
)
def test_an_audio_file_with_cover_art_is_refused_not_streamed_as_its_cover(
    tmp_path: Path, name: str, kind: str
) -> None:
    # Given: the tone with a picture attached as its cover, as music players show it
    ffmpeg(*PICTURE[:3], "testsrc=size=160x120:rate=1,trim=end_frame=1", str(tmp_path / "cover.png"))
    ffmpeg(*TONE, str(tmp_path / f"plain-{name}"))
    ffmpeg(
        "-i", str(tmp_path / f"plain-{name}"), "-i", str(tmp_path / "cover.png"),
        "-map", "0", "-map", "1", "-c", "copy", "-disposition:v", "attached_pic", str(tmp_path / name),
    )  # fmt: skip
    assert refusal(tmp_path / name) == (
        f"not a readable video: {tmp_path / name} holds audio only, no video stream ({kind})"
    )


def test_a_camera_on_an_audio_file_fails_saying_so(tmp_path: Path) -> None:
    ffmpeg(*TONE, str(tmp_path / "doorbell.m4a"))
    config = CameraConfig.model_validate(
        {"id": "door", "url": str(tmp_path / "doorbell.m4a"), "reconnect_min_s": 0.1}
    )
    camera = Camera(config, source_factory(config))
    camera.start()
    try:
        failed = wait_until(lambda: camera.state is CameraState.FAILED and camera.last_error is not None, 10)
        error = camera.last_error
    finally:
        assert camera.stop()
    assert failed
    assert error is not None
    assert "holds audio only, no video stream" in error


@pytest.mark.parametrize("name", sorted(BOTH))
def test_a_video_with_sound_plays(tmp_path: Path, name: str) -> None:
    ffmpeg(*PICTURE, *TONE, *BOTH[name], "-shortest", str(tmp_path / name))
    source = OpenCvSource(str(tmp_path / name), open_timeout_s=2, read_timeout_s=1)
    try:
        shapes = {source.read().shape for _ in range(3)}
    finally:
        source.close()
    assert shapes == {(120, 160, 3)}
