"""The wall clock the outbox stamps its commits with, and the steps it takes.

Retention ages an alert by its ``committed_at``. The wall clock steps: NTP's first sync on a box that
booted without a battery-backed clock moves it from 1970 to today, and a delivered alert committed a
minute before looked 56 years old and was pruned at once (a +8-day step, a stale clock restored at
boot, pruned the same under the default week); a step back kept alerts past their age. Each reading
here is compared with the monotonic clock, which no step moves: when the two drift apart by more
than STEP_S, ``on_step`` is told how far before the reading is handed out, so the alerts stamped on
the clock before can be moved onto the new one before any alert is stamped on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gateway.delivery.wall_clock import WallClockWatch


class CommitClock:
    """Any thread: readings are taken, and steps told, one at a time."""

    def __init__(
        self,
        on_step: Callable[[float], None],
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_step = on_step
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._watch = WallClockWatch()

    def now(self) -> float:
        """The wall clock, once ``on_step`` has been told of any step since the previous reading."""
        with self._lock:
            wall = self._wall()
            step = self._watch.stepped(wall, self._monotonic())
            if step is not None:
                self._on_step(step)
            return wall
