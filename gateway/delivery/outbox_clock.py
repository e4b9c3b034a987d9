"""The wall clock the outbox stamps its commits with, and the steps it takes.

Retention ages an alert by its ``committed_at``. The wall clock steps: NTP's first sync on a box that
booted without a battery-backed clock moves it from 1970 to today, and a delivered alert committed a
minute before looked 56 years old and was pruned at once (a +8-day step, a stale clock restored at
boot, pruned the same under the default week); a step back kept alerts past their age. Each reading
here is compared with the monotonic clock, which no step moves (``wall_clock``): on a step,
``on_step`` is told how far before the reading is handed out, so the alerts stamped on the clock
before can be moved onto the new one before any alert is stamped on it; a stamp taken before a step
another thread told is moved as it is written (``reading``, ``late``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence

from gateway.delivery.outbox_batch import Row
from gateway.delivery.wall_clock import WallClockWatch

logger = logging.getLogger("gateway.delivery.outbox")


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
        self._stepped = 0.0

    def now(self) -> float:
        """The wall clock, once ``on_step`` has been told of any step since the previous reading."""
        return self.reading()[0]

    def reading(self) -> tuple[float, float]:
        """(the wall clock, the steps told so far added up), taken together: a stamp taken with the
        one is moved by what the other grows by before the stamp is written (``late``)."""
        with self._lock:
            wall = self._wall()
            step = self._watch.stepped(wall, self._monotonic())
            if step is not None:
                self._on_step(step)
                self._stepped += step
            return wall, self._stepped


def restamp(db: sqlite3.Connection, step: float, after_seq: int) -> None:
    """Move the alerts after ``after_seq`` (those this run committed) by ``step``, onto the clock as it
    reads now; those of an earlier run keep their stamps, as its clock's steps are not known here.
    The caller holds the database lock."""
    try:
        moved = db.execute(
            "UPDATE alerts SET committed_at = committed_at + ? WHERE seq > ?", (step, after_seq)
        ).rowcount
    except sqlite3.Error as exc:
        logger.warning(
            "the wall clock stepped %+.1f s, and the alerts committed since start could not be moved onto "
            "it (retention ages them by the clock before): %s",
            step,
            exc,
        )
        return
    logger.warning(
        "the wall clock stepped %+.1f s: the %d alerts committed since start keep their age for retention",
        step,
        moved,
    )


def late(rows: Sequence[Row], by: float) -> list[Row]:
    """``rows`` stamped ``by`` later: the clock stepped between their stamp and their write, after
    ``restamp`` moved the rows before them."""
    return [
        (seq, camera, committed_at + by, payload, kind, event_id, image, track)
        for seq, camera, committed_at, payload, kind, event_id, image, track in rows
    ]
