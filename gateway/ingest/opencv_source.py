"""``OpenCvSource``: a ``FrameSource`` on OpenCV's FFmpeg backend by default, its GStreamer backend
where OpenCV has one.

Measured on this kind of machine (OpenCV 4.9-5.0 wheels, FFmpeg backend), and designed against:

- ``VideoCapture.read()`` on a camera that hangs (port open, no data) blocks ~90 s by default.
  ``CAP_PROP_OPEN_TIMEOUT_MSEC`` / ``CAP_PROP_READ_TIMEOUT_MSEC`` work only when passed to the
  constructor, and a read then fails after ~3x the read timeout (OpenCV's interrupt callback fires
  once per internal retry: a 2 s setting failed after 6.0 s against a SIGSTOPped server). We pass a
  third of the configured ``read_timeout_s`` so a hang surfaces after about ``read_timeout_s``.
  A live stream that is merely slow gets no retries: its read fails after that third (a 1 fps
  stream at ``read_timeout_s`` 2 failed every read after 0.7 s), and the interrupted capture then
  fails every later read. ``cadence.py`` names such a stream with the timeouts it needs.
- FFmpeg's ``stimeout`` option is silently ignored; ``timeout`` (microseconds) works.
- Default probing opens in ~1-2 s and then releases ~28 frames in a burst; with
  ``rtsp_transport;tcp|analyzeduration;0|probesize;32`` an RTSP stream opens in ~0.07 s. That
  short probe needs the video track alone (``allowed_media_types;video``): with an audio track
  beside it (most IP cameras have a microphone) it stops before the video's size is known and no
  frame of the stream can be converted.
- A failed open says nothing about why. An open that used its whole budget is reported as a server
  that never answered (a hung one accepts the connection: the kernel does); a quick failure is
  named by what the server answers to our own DESCRIBE and SETUP (``rtsp_diagnosis.py``: 404, no
  such path; a web server's status line, not an RTSP server; 461 to SETUP, a camera that streams
  over UDP only), and an http:// camera's by its answer to a GET (``http_diagnosis.py``: 404, 401,
  a web page where a stream was expected).
- An image sequence plays run by run: FFmpeg's image2 demuxer ends at the first missing number, and
  the images past a gap are opened at their own first number (``image_sequence.py``).
- A raw elementary stream (``.h264``) cannot seek back to its start: such a file is reopened to loop.
- After a mid-stream resolution change, frames keep the first size (FFmpeg's frames are scaled
  to it, and the reported width and height do not change either), until the next reconnect; a
  file never reconnects, so its later sizes never showed. An image sequence is opened again at an
  image whose header gives another size than its run's first; a raw H.264 or H.265 file of several
  sizes is played part by part, and so is a container's H.264 or H.265 video from where its size
  changes (``file_parts.py``), each part opened through a ``FileRange`` on its own.

The process-wide FFmpeg options and log levels, set around each open, are ``ffmpeg_environment``'s.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import cv2
import numpy as np

from gateway.domain import Image
from gateway.errors import SourceError
from gateway.ingest.audio_only import audio_only
from gateway.ingest.ffmpeg_environment import ffmpeg_capture_options, ffmpeg_options
from gateway.ingest.file_diagnosis import file_not_opened, no_frame_decoded
from gateway.ingest.file_parts import FileParts
from gateway.ingest.file_range import FileRange
from gateway.ingest.files import FileIdentity, ffmpeg_pattern, file_identity, file_problem, local_path
from gateway.ingest.http_diagnosis import GUESS, http_failure
from gateway.ingest.image_sequence import ImageSequence, start_options
from gateway.ingest.network_probe import probe_tcp
from gateway.ingest.rtsp_diagnosis import answered_failure
from gateway.ingest.urls import redact_url, source_kind
from gateway.ingest.video_usability import MAX_FRAME_RATE

__all__ = ["READ_RETRIES", "OpenCvSource", "gstreamer_available"]

# OpenCV retries a stalled read about three times before failing (see the module docstring).
READ_RETRIES = 3
DEFAULT_FILE_FPS = 25.0
MAX_TIMESTAMP_STEP_S = 4.0
"""The longest pause between a file's frames played as recorded (half the read timeout, if shorter;
the nominal interval, if longer): the reader sleeps through it, and a longer pause would read as a
stalled camera."""
MAX_NOMINAL_FPS = 1000.0
"""A reported frame rate above this is a time base (90000), not a frame rate."""
# A failed open that took at least this share of its budget timed out (the server never answered)
# rather than being refused (a wrong path or credentials answer at once).
OPEN_TIMED_OUT_SHARE = 0.9


def gstreamer_available() -> bool:
    """Whether this OpenCV build has the GStreamer backend (JetPack's does; the PyPI wheel does not)."""
    match = re.search(r"^\s*GStreamer:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return match is not None and match.group(1).upper() != "NO"


class OpenCvSource:
    """A ``cv2.VideoCapture`` opened with bounded timeouts; local files loop, each frame played at its
    timestamp (or at the nominal frame rate where a file has none)."""

    def __init__(
        self,
        url: str,
        *,
        open_timeout_s: float,
        read_timeout_s: float,
        decoder: str = "ffmpeg",
        gstreamer_pipeline: str | None = None,
    ) -> None:
        self._display = redact_url(url)
        self._kind = source_kind(url)
        self._capture: cv2.VideoCapture | None = None
        self._interrupted = threading.Event()
        self._options = ""
        self._sequence: ImageSequence | None = None
        self._options_replaced = False
        # The file as opened, looked at again at each loop: one replaced or removed while it
        # played was otherwise played on from its old, deleted inode, its disk space held, forever.
        self._identity: FileIdentity | None = None
        # A video file's parts of one picture size each, and the reader OpenCV reads the one playing
        # through (None where the file is opened by its path).
        self._parts: FileParts | None = None
        self._range: FileRange | None = None
        self._in_part = False  # whether the capture opened last reads a part of the file, not all of it
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            max(1, int(read_timeout_s * 1000 / READ_RETRIES)),
        ]
        if decoder == "gstreamer":
            if not gstreamer_available():
                raise SourceError(
                    "decoder gstreamer: this OpenCV build has no GStreamer backend (the PyPI wheel "
                    "has none; use JetPack's OpenCV or decoder ffmpeg)"
                )
            if gstreamer_pipeline is None:
                raise SourceError("decoder gstreamer needs gstreamer_pipeline")
            target, backend = gstreamer_pipeline.replace("{url}", url), cv2.CAP_GSTREAMER
        elif self._kind == "file":
            target, backend = local_path(url), cv2.CAP_FFMPEG
            problem = file_problem(Path(target))
            if problem is not None:
                raise SourceError(problem)
            if Path(target).is_file():
                audio = audio_only(Path(target))
                if audio is not None:
                    # Refused, not opened: an MP3's cover art opens as a video of one still picture.
                    raise SourceError(
                        f"not a readable video: {self._display} holds audio only, no video stream ({audio})"
                    )
                self._identity = file_identity(target)
                self._parts = FileParts(target, self._display, timeouts, read_timeout_s / 4)
            else:
                self._sequence = ImageSequence(target, self._display)
                self._options = start_options(self._sequence.start)
                target = ffmpeg_pattern(target)
        else:
            self._options = ffmpeg_capture_options(read_timeout_s)
            started = time.monotonic()
            probe_tcp(url, open_timeout_s)
            # The probe and the open share one budget, so opening never takes longer than configured.
            remaining_s = max(0.1, open_timeout_s - (time.monotonic() - started))
            timeouts[1] = int(remaining_s * 1000)
            target, backend = url, cv2.CAP_FFMPEG
        self._target, self._backend, self._timeouts = target, backend, timeouts
        self._read_timeout_s = read_timeout_s
        opening = time.monotonic()
        capture = self._new_capture()
        if not capture.isOpened():
            self._release(capture)
            raise SourceError(self._why_not_opened(time.monotonic() - opening, timeouts[1] / 1000))
        self._capture = capture
        if self._parts is not None:
            self._parts.watch()
        self.nominal_fps: float | None = None
        self._frame_interval_s = 1.0 / DEFAULT_FILE_FPS
        self._take_rate(capture)
        self._frame_due = time.monotonic()
        self._position_s: float | None = None

    def _take_rate(self, capture: cv2.VideoCapture) -> None:
        given = None if self._parts is None else self._parts.stream_rate()
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if given is None else given
        # What the stream says of its frame rate (FFmpeg: 0.2 for a 1/5 fps RTSP stream); None when
        # it says nothing usable. A slow one is named with the timeouts it needs (``cadence.py``).
        self.nominal_fps = fps if 0 < fps <= MAX_NOMINAL_FPS else None
        self._frame_interval_s = 1.0 / (fps if 0 < fps <= MAX_FRAME_RATE else DEFAULT_FILE_FPS)

    def _new_capture(self) -> cv2.VideoCapture:
        try:
            if self._backend != cv2.CAP_FFMPEG:
                # GStreamer reads no FFmpeg options: its opens need not wait for FFmpeg's.
                return cv2.VideoCapture(self._target, self._backend, self._timeouts)
            part = self._parts.part() if self._parts is not None else None
            self._in_part = part is not None
            if isinstance(part, str):
                with ffmpeg_options(self._options):
                    return cv2.VideoCapture(part, self._backend, self._timeouts)
            self._range = part
            if self._parts is not None and self._range is not None:
                # OpenCV's binding takes any BufferedIOBase where its stubs name IStreamReader.
                reader = cast("cv2.IStreamReader", self._range)
                try:
                    with ffmpeg_options(self._options):  # a file's: no network camera's short probe
                        return cv2.VideoCapture(reader, self._backend, self._timeouts)
                except (TypeError, cv2.error):
                    # An OpenCV before 4.9 reads no streams: the file plays whole, at its first size.
                    self._range.close()
                    self._range = None
                    self._in_part = False
                    self._parts.play_whole()
            with ffmpeg_options(self._options) as ours:
                self._options_replaced = not ours
                return cv2.VideoCapture(self._target, self._backend, self._timeouts)
        except (cv2.error, OSError) as exc:
            raise SourceError(f"cannot open {self._display}: {exc}") from exc

    def _why_not_opened(self, elapsed_s: float, budget_s: float) -> str:
        if self._sequence is not None:
            return self._sequence.not_opened(options_replaced=self._options_replaced)
        if self._kind == "file":
            return file_not_opened(Path(self._target), self._display)
        # FFmpeg's own timeout (``timeout``, the read timeout) ends a silent open too, before the
        # open's budget when it is the shorter: 3 s of the default 4.
        waited_s = min(budget_s, self._read_timeout_s)
        timed_out = elapsed_s >= waited_s * OPEN_TIMED_OUT_SHARE
        # The port accepted (the probe connected) but the server never answered: hung, or busy.
        silent = f"server accepted the connection but did not answer within {waited_s:.1f} s: {self._display}"
        # Ask what the server says (within what is left of the open's budget) to name the problem.
        remaining_s = max(0.1, budget_s - elapsed_s)
        scheme = urlsplit(self._target).scheme.lower()
        if scheme == "rtsp":
            # Asked even after a timeout: a server on a slow link answers, and is named by its answer.
            answered = answered_failure(self._target, remaining_s)
            if answered is None and timed_out:
                return silent
            reason = answered or GUESS
        elif timed_out:
            return silent
        else:
            reason = http_failure(self._target, remaining_s)
        return f"server reached but stream did not open: {self._display} ({reason})"

    def _opened(self) -> cv2.VideoCapture:
        capture = self._capture
        if capture is None:
            raise SourceError(f"{self._display}: source is closed")
        return capture

    def grab(self) -> None:
        capture = self._opened()
        if self._kind == "file":
            self._grab_file(capture)
        elif not capture.grab():
            raise SourceError(f"{self._display}: stream ended or stalled (no frame)")

    def retrieve(self) -> Image:
        ok, image = self._opened().retrieve()
        if not ok or image is None:
            raise SourceError(f"{self._display}: could not decode the frame")
        frame = np.asarray(image, dtype=np.uint8)
        return self._parts.upright(frame) if self._parts is not None else frame

    def read(self) -> Image:
        self.grab()
        return self.retrieve()

    def _grab_file(self, capture: cv2.VideoCapture) -> None:
        # Files play at their own pace, like a camera, instead of as fast as they decode: each frame
        # its timestamp's distance after the one before (a variable frame rate keeps its gaps), or
        # the nominal interval where that says nothing (raw streams carry no timestamps; a loop).
        capture = self._grab_looping(capture)
        position_s = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        step_s = 0.0
        if self._position_s is not None:
            step_s = position_s - self._position_s
            longest_s = max(min(MAX_TIMESTAMP_STEP_S, self._read_timeout_s / 2), self._frame_interval_s)
            step_s = min(step_s, longest_s) if step_s > 0 else self._frame_interval_s
        self._position_s = position_s
        due = self._frame_due + step_s
        delay = due - time.monotonic()
        if delay > 0:
            self._interrupted.wait(delay)
        self._frame_due = max(due, time.monotonic() - 1.0)

    @property
    def notice(self) -> str | None:
        """What is wrong with the frames shown, though they come (a file's squeezed), or None."""
        squeezed = None if self._parts is None else self._parts.squeezed
        return None if squeezed is None else f"{self._display}: {squeezed}"

    def interrupt(self) -> None:
        """End a wait for a file's next frame now (from any thread): its camera is stopping, and a
        timelapse's frames may be minutes apart."""
        self._interrupted.set()

    def _grab_looping(self, capture: cv2.VideoCapture) -> cv2.VideoCapture:
        """The capture with its next frame grabbed, the file started over at its end."""
        if capture.grab():
            if self._sequence is not None:
                # FFmpeg scales every image of a run to its first one's size: another size starts a run.
                number = self._sequence.grabbed()
                return capture if number is None else self._open_run(self._sequence, number)
            if self._parts is not None and self._parts.size_changed(capture):
                return self._reopen(capture)  # the rest of the container, at its own size
            return capture
        if self._sequence is not None:
            return self._open_run(self._sequence, self._sequence.next_run())
        changed = False
        if self._identity is not None:
            identity = file_identity(self._target)
            if identity is None:
                raise SourceError(f"{self._display}: the file was removed while it played")
            changed, self._identity = identity != self._identity, identity
        if self._parts is None or not self._parts.advance(replaced=changed):
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            if capture.grab():
                return capture
        # Opened again: a file replaced, rewritten or grown since (its new content), the next part
        # of a file of several sizes, or a raw elementary stream (.h264, .h265), which cannot seek,
        # so that its loop is not a lost stream (a reconnect, a state flap and a warning every pass).
        return self._reopen(capture)

    def _reopen(self, capture: cv2.VideoCapture) -> cv2.VideoCapture:
        """``capture`` replaced by a new one on the file or its part now due, its first frame grabbed."""
        self._release(capture)
        self._capture = None
        capture = self._new_capture()
        self._capture = capture
        if not capture.isOpened():
            if not self._in_part:
                raise SourceError(file_not_opened(Path(self._target), self._display))
            raise SourceError(
                f"not a readable video: {self._display}: its part from a change of picture size or "
                "codec on does not open (damaged data?)"
            )
        if not capture.grab():
            raise SourceError(
                no_frame_decoded(
                    self._display,
                    int(capture.get(cv2.CAP_PROP_FOURCC)),
                    int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                    int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                )
            )
        # A replacement's own rate, but a piece of a container's rest keeps the container's: FFmpeg
        # reads no raw stream's rate (it takes 25 fps), a container's parameter sets need give none,
        # and a 10 fps recording's rest played 2.5 times too fast.
        if self._parts is None or not self._parts.playing_rest:
            self._take_rate(capture)
        return capture

    def _open_run(self, sequence: ImageSequence, number: int) -> cv2.VideoCapture:
        """The sequence opened again at its image ``number``, with that image grabbed."""
        capture = self._capture
        if capture is not None:
            self._release(capture)
        self._capture = None
        self._options = start_options(number)
        capture = self._new_capture()
        self._capture = capture
        if not capture.isOpened() or not capture.grab():
            raise SourceError(sequence.unreadable(number))
        sequence.started(number)
        self._take_rate(capture)
        return capture

    def _release(self, capture: cv2.VideoCapture) -> None:
        """Release ``capture`` and the part of a file it read, if it read one."""
        capture.release()
        part, self._range = self._range, None
        if part is not None:
            part.close()

    def close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            self._release(capture)
        parts, self._parts = self._parts, None
        if parts is not None:
            parts.close()
