"""Paced playback for the accuracy benchmark (``--paced``, the CI test): every frame judged, on the
clip's own clock, however fast the machine.

In real time (``accuracy_pipeline``'s default) the files play at their frame rate whatever the
pipeline does and the newest frame wins, so a busy machine drops frames and its recall falls with
them: a measure of the machine. Paced, each camera's reader takes its next frame from the file only

- once the rules have judged the one before (or the camera counted it dropped): nothing is
  superseded, and the decider never finds a result late;
- no sooner than the clip's frame interval after the one before: at most real time, so the reader's
  own pacing never sees a burst, and it never skips converting a frame the sampler will ask for;
- while fewer frames of all cameras are out than the sampler lets wait at the models
  (``max_pending``): none is turned away as busy.

Frames are stamped with the clip's clock (the first frame's wall time + (seq - 1) / fps), so the
rules' durations and the detection delays are the clip's whatever the pace; the stamps never run
ahead of the wall clock, so the decider sees no clock step. What stays on the wall clock is the
decider's tick, which ends an event when a camera's next frame takes ``end_after_s`` (1 s) to be
judged: each camera's turn comes far sooner unless the machine is many times slower than the idle
2-core CI box (about 80 frames a second of the quick set in real time there).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.tracking_play import PlayOnce
from gateway.domain import Image
from gateway.ingest.sources import FrameSource
from gateway.pipeline.gateway import Gateway

STALL_S = 120.0
"""The run gives up when no frame has been judged for this long (a lost frame, a wedged part), rather
than when the clips take longer than they last: a slow machine only takes longer."""
POLL_S = 0.2
"""How often a reader waiting for its previous frame's judgement looks at its drop count."""


@dataclass(slots=True)
class _Lane:
    """One camera's place in paced playback: its reader thread takes frames, the decider's thread
    marks them judged."""

    fps: float
    taken: int = 0
    """Frames taken from the file: the newest one's seq."""
    judged: int = 0
    """The newest seq the rules have seen."""
    resolved: threading.Event = field(default_factory=threading.Event)
    """The newest frame taken has been judged."""
    drops_before: int = 0
    """The camera's drop count when it took its newest frame: a drop since is that frame's."""
    holding: bool = False
    """The newest frame holds one of the pace's slots."""
    first_at: float = 0.0
    """Wall time of the clip's first frame: the clip clock's zero."""
    taken_at: float | None = None
    """Monotonic time the newest frame was taken."""


class PipelinePace:
    """Paced playback (the module doc): each camera takes its next frame once the rules have judged
    the one before (or the camera counted it dropped), no sooner than the clip's frame interval after
    it, and while fewer frames of all cameras are out than the sampler lets wait at the models."""

    def __init__(self, fps: Mapping[str, float]) -> None:
        """``fps``: each camera's clip frame rate."""
        self._lanes = {camera_id: _Lane(rate) for camera_id, rate in fps.items()}
        self._slots = threading.Semaphore(1)
        self._drops: Callable[[str], int] = lambda _camera_id: 0
        self._stopping = threading.Event()
        self._last_judged_at = time.monotonic()

    def bind(self, slots: int, drops: Callable[[str], int]) -> None:
        """Before the first frame: how many frames may be out at once, and each camera's drop count."""
        self._slots = threading.Semaphore(slots)
        self._drops = drops

    def attach(self, gateway: Gateway) -> None:
        """Before the gateway starts: its bound on frames at the models, and its drop counts."""
        cameras = gateway.cameras

        def drops(camera_id: str) -> int:
            status = cameras.camera(camera_id)
            return sum(status.drops.values()) if status is not None else 0

        assert cameras.max_pending is not None, "Gateway.from_config bounds the frames at the models"
        self.bind(cameras.max_pending, drops)

    def clock(self, camera_id: str) -> Callable[[], float]:
        """The camera's clock of capture times (``Gateway.from_config``'s ``capture_clock``): its
        reader reads it right after taking each frame, so the rules and the delays run on the clip's
        own clock; never ahead of the wall clock (frames are at least an interval apart), so the
        decider sees no clock step."""
        return functools.partial(self.captured_at, camera_id)

    def captured_at(self, camera_id: str) -> float:
        """The camera's newest frame on its clip's clock: the first frame's wall time + (seq - 1) / fps."""
        lane = self._lanes[camera_id]
        return lane.first_at + (lane.taken - 1) / lane.fps

    def source(self, camera_id: str, inner: FrameSource, player: PlayOnce) -> FrameSource:
        return _PacedSource(self, camera_id, inner, player)

    def judged(self, camera_id: str, seq: int) -> None:
        """On the decider's thread, for every result the rules are about to judge."""
        self._last_judged_at = time.monotonic()
        lane = self._lanes[camera_id]
        lane.judged = max(lane.judged, seq)
        if lane.judged >= lane.taken:
            lane.resolved.set()

    def before_take(self, camera_id: str, *, last: bool) -> None:
        """On the camera's reader thread: wait until its newest frame is judged (or dropped) and,
        unless the clip has no frame left, until the next may be taken."""
        lane = self._lanes[camera_id]
        if lane.taken:
            while not lane.resolved.wait(POLL_S) and not self._stopping.is_set():
                if self._drops(camera_id) > lane.drops_before:
                    break
            self._give_back(lane)
        if last:
            return
        if lane.taken_at is not None:
            self._stopping.wait(max(0.0, lane.taken_at + 1.0 / lane.fps - time.monotonic()))
        while not self._stopping.is_set():
            if self._slots.acquire(timeout=POLL_S):
                lane.holding = True
                break
        lane.drops_before = self._drops(camera_id)
        lane.resolved.clear()

    def after_take(self, camera_id: str) -> None:
        lane = self._lanes[camera_id]
        lane.taken += 1
        lane.taken_at = time.monotonic()
        if lane.taken == 1:
            lane.first_at = time.time()

    def take_failed(self, camera_id: str) -> None:
        self._give_back(self._lanes[camera_id])

    def _give_back(self, lane: _Lane) -> None:
        if lane.holding:
            lane.holding = False
            self._slots.release()

    def wait(self, players: Sequence[PlayOnce]) -> bool:
        """Until every clip has played to its end, each frame judged; False when no frame was judged
        for ``STALL_S`` first."""
        self._last_judged_at = time.monotonic()
        for player in players:
            while not player.finished.wait(1.0):
                if time.monotonic() - self._last_judged_at > STALL_S:
                    return False
        return True

    def stop(self) -> None:
        self._stopping.set()


class _PacedSource:
    """A camera's once-played source, taking each frame when the pace lets it."""

    def __init__(self, pace: PipelinePace, camera_id: str, inner: FrameSource, player: PlayOnce) -> None:
        self._pace = pace
        self._camera_id = camera_id
        self._inner = inner
        self._player = player

    def grab(self) -> None:
        self._pace.before_take(self._camera_id, last=self._player.grabbed >= self._player.frames)
        try:
            self._inner.grab()
        except BaseException:
            self._pace.take_failed(self._camera_id)
            raise
        self._pace.after_take(self._camera_id)

    def retrieve(self) -> Image:
        return self._inner.retrieve()

    def read(self) -> Image:
        self.grab()
        return self.retrieve()

    def close(self) -> None:
        self._inner.close()
