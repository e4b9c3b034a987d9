"""Slow streams: a camera whose frames come further apart than its timeouts allow, named with the fix.

A timelapse (0.2 fps) or a motion-triggered stream that sends a frame every 5 s is not a hung camera,
but with the default ``read_timeout_s`` (3 s) it looks like one: the watchdog calls it stalled and
the reader reopens it, again and again, while frames keep trickling in. ``FrameCadence`` tells the
two apart and says what to change, from either of two signs:

- the frame rate the opened stream reports (``CAP_PROP_FPS``; FFmpeg gives 0.2 for a 1/5 fps RTSP
  stream, 0.25 for a ``-r 0.25`` file), when one frame interval is at least ``NEAR_SHARE`` of what
  the timeouts allow;
- the intervals measured between frames before the stall (a VFR camera may report 25 fps and send
  far fewer), when their median was already that near.

What the timeouts allow, measured on this kind of machine (OpenCV 5.0 FFmpeg backend, gst-rtsp-server
at 1 and 0.2 fps): a live network stream's read fails after ``read_timeout_s / READ_RETRIES`` (the
capture's read timeout; only a hung server takes the three retries ``opencv_source.py`` describes), and an
interrupted read leaves the capture unusable, so a network stream needs ``read_timeout_s`` of about
three frame intervals. Opening one probes its first frames: ``open_timeout_s`` 4 failed against a
0.2 fps stream (the first read found no picture), 12 worked. Files are paced by the reader itself,
so only the watchdog's ``read_timeout_s`` applies to them.

The watchdog keeps ``read_timeout_s`` as its bound rather than waiting a multiple of the measured
interval: the capture's own read gives up on that bound inside FFmpeg whatever the watchdog does
(stretching only the watchdog would hide the reconnects from status, not stop them), and the bound is
the user's promise of how soon a hung camera is noticed (a stretched wait would let one bad
measurement delay that). So the camera keeps reconnecting, but says why and what to set, once in the
log and in its status for as long as it keeps stalling.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import deque
from dataclasses import dataclass

from gateway.config import CameraConfig
from gateway.ingest.opencv_source import READ_RETRIES
from gateway.ingest.urls import source_kind

NEAR_SHARE = 0.7
"""Frames this near to what the timeouts allow (as a share of it) leave too little room for jitter."""
READ_MARGIN = 1.5
"""The advised ``read_timeout_s`` leaves this factor of room over what one frame interval needs."""
OPEN_INTERVALS = 2.5
"""Frame intervals an open of a network stream may take (it probes its first frames)."""
MEASURED_GAPS = 8
"""Frame intervals kept for the measured sign; their median is the stream's interval."""
MIN_MEASURED = 2


@dataclass(frozen=True, slots=True)
class SlowStream:
    """A stream whose frames come too far apart for the camera's timeouts."""

    interval_s: float
    message: str


class FrameCadence:
    """The frame intervals of one camera's current stream and what its timeouts allow.

    ``opened`` and ``frame`` run on the reader thread; ``diagnose`` on the thread that found the
    stall (the reader, or the sampler's watchdog), from a snapshot of the intervals."""

    def __init__(self, config: CameraConfig) -> None:
        self._config = config
        network = source_kind(config.url) != "file" and config.decoder == "ffmpeg"
        # The share of read_timeout_s a read of a live stream waits before the reader gives up.
        self._read_share = 1.0 / READ_RETRIES if network else 1.0
        self._network = network
        self._gaps: deque[float] = deque(maxlen=MEASURED_GAPS)
        self._lock = threading.Lock()
        self._last_frame_at: float | None = None
        self._nominal_fps: float | None = None

    @property
    def allowed_interval_s(self) -> float:
        """The longest frame interval the timeouts let through without a stall."""
        return self._config.read_timeout_s * self._read_share

    def opened(self, nominal_fps: float | None) -> None:
        """A new stream: the interval across a reopen is not one of its frame intervals."""
        self._last_frame_at = None
        self._nominal_fps = nominal_fps

    def frame(self, now: float) -> None:
        last, self._last_frame_at = self._last_frame_at, now
        if last is not None:
            with self._lock:
                self._gaps.append(now - last)

    def diagnose(self) -> SlowStream | None:
        """Why the stream stalled if its frames simply come too slowly for the timeouts, else None."""
        near = NEAR_SHARE * self.allowed_interval_s
        fps = self._nominal_fps
        if fps is not None and fps > 0 and 1.0 / fps >= near:
            return self._slow(1.0 / fps)
        with self._lock:
            gaps = list(self._gaps)
        if len(gaps) >= MIN_MEASURED and statistics.median(gaps) >= near:
            return self._slow(statistics.median(gaps))
        return None

    def _slow(self, interval_s: float) -> SlowStream:
        config = self._config
        allowed = self.allowed_interval_s
        relation = "longer than" if interval_s > allowed else "close to"
        if self._read_share < 1.0:
            bound = (
                f"the {allowed:.1f} s a network stream's read waits with read_timeout_s "
                f"{config.read_timeout_s:g} (a third of it)"
            )
        else:
            bound = f"read_timeout_s {config.read_timeout_s:g}"
        read_s = math.ceil(interval_s * READ_MARGIN / self._read_share)
        advice = f"raise cameras[].read_timeout_s to {read_s} or more"
        open_s = math.ceil(interval_s * OPEN_INTERVALS)
        if self._network and config.open_timeout_s < open_s:
            advice += f" and open_timeout_s to {open_s} or more"
        message = f"frames arrive every ~{interval_s:.1f} s, {relation} {bound}; {advice}"
        return SlowStream(interval_s, message)
