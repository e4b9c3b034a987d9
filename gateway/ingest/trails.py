"""Where each tracked object of a camera has been lately: the bottom centres of its last boxes, the point
the zone and line rules judge, for the live view to draw as the object's path."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.domain import Detection
from gateway.positions import Point, bottom_centre

TRAIL_POINTS = 30
"""Positions kept per object: six seconds at the default 5 detections a second, enough to see which
way it crossed a line or where it entered a zone."""
FORGET_AFTER_RESULTS = 10
"""Results without an object after which its path is let go (its track has ended, or will soon)."""


@dataclass(slots=True)
class _Trail:
    points: deque[Point]
    seen_at: int
    """The count of results when the object was last in one."""


@dataclass(slots=True)
class Trails:
    """The recent paths of one camera's tracked objects, bounded in length and in number."""

    length: int = TRAIL_POINTS
    forget_after: int = FORGET_AFTER_RESULTS
    _trails: dict[int, _Trail] = field(default_factory=dict, init=False)
    _results: int = field(default=0, init=False)

    def add(self, detections: Sequence[Detection]) -> None:
        """One result's tracked detections (untracked ones and frame-level results have no path)."""
        self._results += 1
        for detection in detections:
            if detection.track_id is None or detection.box is None:
                continue
            trail = self._trails.get(detection.track_id)
            if trail is None:
                trail = self._trails[detection.track_id] = _Trail(deque(maxlen=self.length), self._results)
            trail.points.append(bottom_centre(detection.box))
            trail.seen_at = self._results
        oldest = self._results - self.forget_after
        for track in [track for track, trail in self._trails.items() if trail.seen_at < oldest]:
            del self._trails[track]

    def paths(self, detections: Sequence[Detection]) -> list[tuple[Point, ...]]:
        """The paths of the objects in ``detections`` seen in two results or more."""
        paths = []
        for detection in detections:
            trail = None if detection.track_id is None else self._trails.get(detection.track_id)
            if trail is not None and len(trail.points) >= 2:
                paths.append(tuple(trail.points))
        return paths
