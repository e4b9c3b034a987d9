"""Small thread-safe counters shared by a camera's reader and the pipeline's sampler."""

from __future__ import annotations

import threading
from collections import deque

from gateway.domain import DropReason


class DropCounter:
    """Frames dropped, by reason. Every drop anywhere in the camera path goes through here."""

    def __init__(self) -> None:
        self._counts: dict[DropReason, int] = {}
        self._lock = threading.Lock()

    def add(self, reason: DropReason, count: int = 1) -> None:
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + count

    def snapshot(self) -> dict[DropReason, int]:
        with self._lock:
            return dict(self._counts)


class RateMeter:
    """Events per second over the last ``window_s`` seconds (a bounded deque of event times)."""

    def __init__(self, window_s: float = 5.0, capacity: int = 512) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def mark(self, now: float) -> None:
        with self._lock:
            self._times.append(now)

    def rate(self, now: float) -> float:
        with self._lock:
            recent = [moment for moment in self._times if now - moment <= self._window_s]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0
