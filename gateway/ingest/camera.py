"""One camera: a named reader thread that keeps only the newest decoded frame and never gives up.

The reader opens its source, publishes every decoded frame into a one-frame slot (newest wins: a
frame nobody took before the next one arrived is counted as ``superseded``), and on any failure
reopens with exponential backoff plus jitter (a stream lost after ``STABLE_STREAM_S`` is reopened at
once; one lost sooner waits like a failed open, so a camera that drops every session is not
reopened in a tight loop). Blocking calls are bounded by the source's timeouts
(see ``opencv_source.py``), so ``stop()`` returns within about ``max(open_timeout_s, read_timeout_s)``.

Every frame is decoded (H.264 needs them all) but only converted to BGR when the sampler's next
visit (``expect_sample_at``) is near; the others are counted as superseded without the conversion.

A watchdog (``check_stalled``, called by the pipeline's sampler) marks a camera that has produced no
frame for ``read_timeout_s`` as reconnecting at once, so status and metrics show a hang before the
reader's own read times out and it reopens the stream.

A stream whose frames simply come further apart than its timeouts allow (a timelapse, a
motion-triggered camera) stalls the same way. When one stalls, ``cadence.FrameCadence`` tells it apart
by the frame rate the stream reports or the intervals measured before; the camera then says so with
the fix, once as a warning and in ``last_error`` and ``slow_stream`` for as long as it keeps stalling
(forgotten once it has not stalled for ``SLOW_FORGOTTEN_S``: it was slowed by a network, not slow).
The watchdog's bound stays ``read_timeout_s`` (``cadence.py`` says why).

``last_error`` is the camera's current problem: once frames flow again (reopened, or a stall over) it
is None, except for a stream too slow for its timeouts, whose next stall is only a gap away.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from gateway.config import CameraConfig
from gateway.domain import CameraState, DropReason, Frame, Image
from gateway.errors import SourceError
from gateway.ingest.backoff import Backoff
from gateway.ingest.cadence import FrameCadence, SlowStream
from gateway.ingest.counters import DropCounter, RateMeter
from gateway.ingest.frame_source import (
    FrameSource,
    ReportsNotice,
    SourceFactory,
    interrupt,
    nominal_fps,
)
from gateway.ingest.state import CameraStateMachine, Listener
from gateway.ingest.urls import redact_url

logger = logging.getLogger(__name__)

# Reopen attempts after a lost stream before the camera is reported failed (it keeps retrying).
FAILED_AFTER_ATTEMPTS = 3
# A stream that ends sooner than this after opening counts as a failed attempt for the backoff.
STABLE_STREAM_S = 10.0
SLOW_FORGOTTEN_S = 60.0
"""How long a stream found too slow for its timeouts goes without a stall before that is forgotten."""
_RECOVERABLE = frozenset({CameraState.CONNECTING, CameraState.RECONNECTING, CameraState.FAILED})


class Camera:
    def __init__(
        self,
        config: CameraConfig,
        open_source: SourceFactory,
        *,
        on_state: Listener | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.camera_id = config.id
        self.display_url = redact_url(config.url)
        self.drops = DropCounter()
        self._open_source = open_source
        self._machine = CameraStateMachine(config.id, on_state)
        self._clock = clock
        self._wall_clock = wall_clock
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s, rng)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: FrameSource | None = None
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._latest_taken = True
        self._seq = 0
        self._frames_in = 0
        self._reconnects = 0
        self._stalls = 0
        self._last_error: str | None = None
        # Held while the watchdog's stall and the reader's recovery each move the state and set
        # last_error together: a frame in between left a stall's error on a streaming camera.
        self._error_lock = threading.Lock()
        self._last_frame_monotonic: float | None = None
        self._rate_in = RateMeter()
        self._next_sample_at = 0.0
        self._last_grab_at: float | None = None
        self._frame_interval_s = 0.04
        self._cadence = FrameCadence(config)
        self._slow: SlowStream | None = None
        self._slow_at: float | None = None
        self._slow_lock = threading.Lock()
        self._log_extra = {"camera": config.id}

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def state(self) -> CameraState:
        return self._machine.state

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"camera {self.camera_id} already started")
        self._machine.move(CameraState.CONNECTING)
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.camera_id}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()
        self._interrupt_source()

    @property
    def reader_alive(self) -> bool:
        """The reader thread runs (streaming, reconnecting or backing off all count)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the reader; True when its thread has ended within ``timeout_s``."""
        self.request_stop()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def _interrupt_source(self) -> None:
        source = self._source
        if source is not None:
            # A file camera sleeps until its next frame is due, which may be longer than a stop waits.
            interrupt(source)

    # ---- the newest-frame slot -------------------------------------------------------------------

    def take_newest(self) -> Frame | None:
        """The newest frame not taken before, or None when no newer frame has arrived."""
        with self._lock:
            if self._latest_taken:
                return None
            self._latest_taken = True
            return self._latest

    def peek_newest(self) -> Frame | None:
        with self._lock:
            return self._latest

    def _publish(self, image: Image) -> None:
        now = self._clock()
        with self._lock:
            self._seq += 1
            superseded = not self._latest_taken
            self._latest = Frame(self.camera_id, self._seq, self._wall_clock(), now, image)
            self._latest_taken = False
            self._frames_in += 1
            self._last_frame_monotonic = now
        self._cadence.frame(now)
        if superseded:
            self.drops.add(DropReason.SUPERSEDED)
        self._rate_in.mark(now)

    def expect_sample_at(self, due: float) -> None:
        """The sampler's next visit (``clock()`` time). Frames well before it are grabbed but not
        converted to BGR, since a newer one will replace them; 0 converts every frame."""
        self._next_sample_at = due

    def _wanted(self, now: float) -> bool:
        last, self._last_grab_at = self._last_grab_at, now
        if last is not None:
            # The frame interval, quick to grow and slow to shrink: the window below must hold the
            # last frame before the visit, and a frame skipped there is lost (the next may come long
            # after the visit). Beyond the sampling interval every frame is wanted anyway.
            gap = min(now - last, max(1.0, 1.0 / self.config.detect_fps))
            if gap >= self._frame_interval_s:
                self._frame_interval_s = gap
            else:
                self._frame_interval_s += 0.1 * (gap - self._frame_interval_s)
        due = self._next_sample_at
        return due <= 0.0 or now >= due - 1.5 * self._frame_interval_s

    def _skip(self, now: float) -> None:
        """A grabbed frame nobody will see: counted like a published one that was superseded."""
        with self._lock:
            self._seq += 1
            self._frames_in += 1
            self._last_frame_monotonic = now
        self._cadence.frame(now)
        self.drops.add(DropReason.SUPERSEDED)
        self._rate_in.mark(now)

    # ---- status ----------------------------------------------------------------------------------

    @property
    def frames_in(self) -> int:
        return self._frames_in

    @property
    def reconnects(self) -> int:
        return self._reconnects

    @property
    def stalls(self) -> int:
        return self._stalls

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def last_frame_at(self) -> float | None:
        frame = self.peek_newest()
        return frame.captured_at if frame is not None else None

    def fps_in(self) -> float:
        return self._rate_in.rate(self._clock())

    def slow_stream(self) -> tuple[str, float] | None:
        """Why this camera keeps stalling when its frames only come too slowly for its timeouts:
        (the problem with its fix, ``clock()`` time of the latest stall it explains), else None."""
        with self._slow_lock:
            slow, at = self._slow, self._slow_at
        return (slow.message, at) if slow is not None and at is not None else None

    def check_stalled(self) -> bool:
        """Watchdog: report a streaming camera silent for ``read_timeout_s`` as reconnecting."""
        last = self._last_frame_monotonic
        if last is None or self._clock() - last <= self.config.read_timeout_s:
            self._forget_slow()
            return False
        with self._error_lock:
            if not self._machine.move_if(frozenset({CameraState.STREAMING}), CameraState.RECONNECTING):
                return False
            self._stalls += 1
            self._last_error = self._explained(f"stalled: no frame for {self._clock() - last:.1f} s")
        logger.warning("camera stalled, reconnecting: %s", self._last_error, extra=self._log_extra)
        return True

    def _forget_slow(self) -> None:
        """Drop the slow-stream diagnosis, and ``last_error`` holding it, once the stream has not
        stalled for ``SLOW_FORGOTTEN_S``: one too slow for its timeouts stalls at every gap, so this
        one was slowed by something now past (a lossy network let only key frames through), and its
        error told the operator for good to raise a timeout that was right."""
        with self._slow_lock:
            slow, at = self._slow, self._slow_at
        if slow is None or at is None or self._clock() - at < SLOW_FORGOTTEN_S:
            return
        with self._error_lock:
            with self._slow_lock:
                if self._slow is not slow or self._slow_at != at:
                    return  # stalled again meanwhile: diagnosed anew
                self._slow, self._slow_at = None, None
            error = self._last_error
            if (
                self._machine.state is CameraState.STREAMING
                and error is not None
                and error.endswith(slow.message)
            ):
                self._last_error = None
        logger.info(
            "camera stream no longer too slow for its timeouts: no stall for %.0f s",
            SLOW_FORGOTTEN_S,
            extra=self._log_extra,
        )

    def _explained(self, error: str) -> str:
        """``error`` with the slow-stream diagnosis appended when there is one. The first one is also
        logged as a warning: the log names it once, not at every stall (the status keeps the latest,
        whose measured interval may move a little)."""
        slow = self._cadence.diagnose()
        if slow is None:
            return error
        with self._slow_lock:
            first = self._slow is None
            self._slow, self._slow_at = slow, self._clock()
        if first:
            logger.warning("camera stream too slow for its timeouts: %s", slow.message, extra=self._log_extra)
        return f"{error}; {slow.message}"

    # ---- the reader thread -----------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                source = self._open()
                if source is None:
                    failures += 1
                    self._after_failed_open(failures)
                    continue
                failures = 0
                opened_at = self._clock()
                self._source = source
                try:
                    self._stream(source)
                finally:
                    self._source = None
                    source.close()
                self._after_stream(self._clock() - opened_at)
        except Exception:
            # A bug must not take the process down silently: record it, end this camera only.
            logger.exception("camera reader crashed", extra=self._log_extra)
            self._last_error = "internal error in the camera reader (see log)"
        finally:
            self._machine.move(CameraState.STOPPED)

    def _open(self) -> FrameSource | None:
        source: FrameSource | None = None
        try:
            source = self._open_source()
            self._cadence.opened(nominal_fps(source))
            image = source.read()
        except SourceError as exc:
            if source is None:
                self._last_error = str(exc)
                return None
            # Opened, but no first frame in time: a stream too slow for the timeouts looks just so.
            source.close()
            self._last_error = self._explained(str(exc))
            return None
        self._publish(image)
        self._last_grab_at = self._clock()  # the first gap of the stream is measured from here
        self._recovered()
        if not self._machine.move_if(_RECOVERABLE, CameraState.STREAMING):
            logger.debug("opened while %s", self._machine.state.value, extra=self._log_extra)
        logger.info("camera streaming from %s", self.display_url, extra=self._log_extra)
        return source

    def _after_failed_open(self, failures: int) -> None:
        state = self._machine.state
        if state is CameraState.CONNECTING or (
            state is CameraState.RECONNECTING and failures >= FAILED_AFTER_ATTEMPTS
        ):
            self._machine.move_if(frozenset({state}), CameraState.FAILED)
        delay = self._backoff.next_delay()
        logger.warning(
            "camera open failed (attempt %s), retrying in %.1f s: %s",
            failures,
            delay,
            self._last_error,
            extra=self._log_extra,
        )
        if not self._stop.wait(delay):
            self._reconnects += 1

    def _after_stream(self, lasted_s: float) -> None:
        """A stream that ran for STABLE_STREAM_S is reopened at once and its backoff starts over; one
        that ended sooner (a camera that drops every session right after it starts) waits like a
        failed open, so it is not reopened hundreds of times a second, a warning each time."""
        if self._stop.is_set():
            return
        if lasted_s >= STABLE_STREAM_S:
            self._backoff.reset()
            return
        delay = self._backoff.next_delay()
        logger.info(
            "camera stream ended %.1f s after it opened, reopening in %.1f s",
            lasted_s,
            delay,
            extra=self._log_extra,
        )
        self._stop.wait(delay)

    def _stream(self, source: FrameSource) -> None:
        notices = source if isinstance(source, ReportsNotice) else None
        noticed: str | None = None  # what is wrong with the frames that come, named once
        while not self._stop.is_set():
            try:
                source.grab()
                if notices is not None and notices.notice != noticed:
                    noticed = notices.notice
                    self._last_error = noticed
                    if noticed is not None:
                        logger.warning("camera frames not as recorded: %s", noticed, extra=self._log_extra)
                now = self._clock()
                if self._wanted(now):
                    self._publish(source.retrieve())
                else:
                    self._skip(now)
            except SourceError as exc:
                self._last_error = self._explained(str(exc))
                if self._machine.move_if(frozenset({CameraState.STREAMING}), CameraState.RECONNECTING):
                    logger.warning("camera lost its stream: %s", exc, extra=self._log_extra)
                self._reconnects += 1
                return
            if self._machine.state is CameraState.RECONNECTING:
                # The watchdog called it a stall, but frames are flowing again.
                with self._error_lock:
                    if self._machine.state is CameraState.RECONNECTING:
                        self._recovered()
                        self._last_error = self._last_error or noticed
                        self._machine.move_if(frozenset({CameraState.RECONNECTING}), CameraState.STREAMING)

    def _recovered(self) -> None:
        """Frames flow again: the error that stopped them is past, and ``last_error`` (shown in
        /v1/cameras and the console as the camera's current problem) no longer names it. A stream
        found too slow for its timeouts keeps its error: it stalls again at its next gap, until its
        timeouts are raised (``SLOW_FORGOTTEN_S`` counts from now, the stall's end: a gap the watchdog
        alone saw was as long as it lasted, past ``SLOW_FORGOTTEN_S`` itself perhaps)."""
        with self._slow_lock:
            slow = self._slow
            if slow is not None:
                self._slow_at = self._clock()
        if slow is None:
            self._last_error = None
