"""The decider's inbox: frame results and control (reload, stop), in the order they came.

Camera callbacks offer results and never wait: a result that finds ``capacity`` results already
waiting is refused, for the caller to count (that happens only when the outbox has refused commits
for thousands of frames). Control is never refused and keeps its place among the results, so a
reload lands between two frames, never inside one. The decider thread takes the items one at a
time, waiting for one, for news from the commit queue, or for its next tick.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from gateway.decider.scene_formats import Checked
from gateway.domain import FrameResult, Image
from gateway.rules.specs import CameraRules
from gateway.tracking import TrackerSpec


@dataclass(frozen=True, slots=True)
class Reload:
    cameras: Sequence[CameraRules]
    trackers: Mapping[str, TrackerSpec]
    done: Future[int]


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class Result:
    result: FrameResult
    image: Image | None
    """Its frame, held for evidence; None when evidence is off or the held-frame bound refused it."""
    refused: bool = False
    monotonic_at: float | None = None
    """Its frame's monotonic capture time (None without a frame)."""
    checked: Checked | None = None
    """An anomaly result's frame, compared with its model's enrollment (``scene_formats``)."""


Item = Result | Reload | Stop


class Inbox:
    """Any thread puts items in; one thread (the decider's) takes them out."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._wake = threading.Condition()
        self._items: collections.deque[Item] = collections.deque()
        self._results = 0

    def offer(self, make: Callable[[], Result]) -> bool:
        """Queue the result ``make`` builds, or return False, without calling it, when ``capacity``
        results are waiting. ``make`` runs under the inbox's lock: what it holds for the result (its
        frame, ``HeldFrames``) is held only for a result that is queued."""
        with self._wake:
            if self._results >= self._capacity:
                return False
            self._items.append(make())
            self._results += 1
            self._wake.notify()
        return True

    def put(self, item: Reload | Stop) -> None:
        with self._wake:
            self._items.append(item)
            self._wake.notify()

    def take(self, until: float, ready: Callable[[], bool]) -> Item | None:
        """The next item, waiting for one until ``until`` (``time.monotonic``); None when there is
        none by then, or ``ready()`` (news to act on) holds first."""
        with self._wake:
            while not self._items and not ready():
                remaining = until - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            item = self._items.popleft() if self._items else None
            if isinstance(item, Result):
                self._results -= 1
        return item

    def wake(self) -> None:
        """Wake ``take`` to ask ``ready`` again."""
        with self._wake:
            self._wake.notify()
