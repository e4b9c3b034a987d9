"""The process-wide settings OpenCV's capture reads from the environment, set around each open.

``OPENCV_FFMPEG_CAPTURE_OPTIONS`` is process-wide (OpenCV reads the environment at each open). We
set it under a lock around each open, to the network options (with that camera's timeout) for a
stream, to the first frame number for an image sequence and to none for a file, unless the operator
already set it; the other per-camera bounds are constructor properties, which are per capture.

FFmpeg's and OpenCV's own messages are turned down at the first open, unless the operator set their
levels: both write to stderr themselves, past our logging, with no camera named, and what a
camera's failure means is said by our own log and its state in /v1/cameras.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

__all__ = [
    "FFMPEG_LOG_LEVEL",
    "FFMPEG_LOG_LEVEL_VARIABLE",
    "FFMPEG_OPTIONS_VARIABLE",
    "OPENCV_LOG_LEVEL_VARIABLE",
    "ffmpeg_capture_options",
    "ffmpeg_options",
]

FFMPEG_OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
FFMPEG_LOG_LEVEL_VARIABLE = "OPENCV_FFMPEG_LOGLEVEL"
FFMPEG_LOG_LEVEL = "8"
"""FFmpeg's AV_LOG_FATAL. OpenCV leaves it at errors, which FFmpeg writes to stderr itself, past our
logging: a camera on a lossy network wrote some 16 "error while decoding MB" lines a second with no
camera named (a site of 18 such cameras nears journald's default limit of 10,000 lines in 30 s,
which drops the gateway's own lines), and an RTSP server's reason phrase went there as it was sent."""
OPENCV_LOG_LEVEL_VARIABLE = "OPENCV_LOG_LEVEL"
"""OpenCV's own level, at warnings unless set: every failed open wrote "[ WARN:0@0.281] global
cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally available but can't be used to capture by
name" to stderr, a camera that is down once per reconnect, while our own message names the camera
and why. We keep errors."""
_options_lock = threading.Lock()
# The value we last set, so an operator's own setting is told apart from ours and left alone.
_options_set_by_us: dict[str, str] = {}


def ffmpeg_capture_options(read_timeout_s: float) -> str:
    # allowed_media_types: only the video track is set up. With an audio track beside it, the
    # 32-byte probe ends on an audio packet before the video's size is known, and every frame of
    # the stream then fails to convert (OpenCV: "Out of memory issue on av_frame_get_buffer").
    return (
        "rtsp_transport;tcp|allowed_media_types;video|analyzeduration;0|probesize;32"
        f"|timeout;{int(read_timeout_s * 1_000_000)}"
    )


@contextmanager
def ffmpeg_options(wanted: str) -> Iterator[bool]:
    """The process's FFmpeg capture options set to ``wanted`` for one open ("": FFmpeg's defaults);
    yields whether they are (False: the operator's own setting is in effect instead).

    Held through the open: the RTSP options must not reach a file (a 32-byte probe of a raw H.264
    file that starts between keyframes finds no picture size, and no frame is ever read; an MPEG-TS
    file reports 50 fps for 25 and plays twice as fast). OpenCV opens one capture at a time anyway
    (a file's open waited 2.6 s for a hung camera's), so the lock costs no concurrency. The value
    is replaced, never removed, so the environment's array is not rebuilt under other threads.
    """
    with _options_lock:
        # Read once, when OpenCV first opens a capture with FFmpeg; the operator's own level wins.
        os.environ.setdefault(FFMPEG_LOG_LEVEL_VARIABLE, FFMPEG_LOG_LEVEL)
        if OPENCV_LOG_LEVEL_VARIABLE not in os.environ:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        current = os.environ.get(FFMPEG_OPTIONS_VARIABLE)
        # The operator's own setting wins, for every open.
        ours = current is None or current == _options_set_by_us.get(FFMPEG_OPTIONS_VARIABLE)
        if ours and current != wanted:
            os.environ[FFMPEG_OPTIONS_VARIABLE] = wanted
            _options_set_by_us[FFMPEG_OPTIONS_VARIABLE] = wanted
        yield ours
