"""Where a new track came from: the detections of the last ``max_lost_s`` that no confirmed track
has, kept per frame, through which a new track's first box is traced back to its ``origin`` (step 6
of ``tracker.py``'s module doc).

Why trace back: an object walking in from the edge of the frame, turned away or half lit, often
scores just under ``new_track_score`` for its first steps (face-detector: 0.37..0.39 on the tracking
benchmark's pole scene), and its track then starts, and is confirmed ``confirm_hits`` frames later,
only after it has crossed a line drawn near the edge. The tracker keeps its decision to start tracks
on strong detections only (a weak one on its own is where false positives hide), and drops a
tentative track that misses a frame; the detections it passed over or dropped are still evidence of
where a track that did start came from, and a line-crossing rule judges the move from there
(``Track.origin``). Cost, measured with ``bench/tracking_compare.py``'s synthetic camera, medians
of three rounds interleaved with the tracker before it, load average 7-9 on 2 cores: 0.31-0.34 ms
per frame at 20 objects against 0.28-0.32, 0.62-0.64 against 0.48-0.56 at 50. The trace never
passes over a frame on which what it follows was a confirmed track's box: jumping over it to older
leftovers, a newcomer near a track that had just stepped over a line, after being missed and seen
weakly on the near side, took those weak boxes for its own past and crossed the line a second time
for the same object.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.domain import Box
from gateway.tracking.association import iou_matrix
from gateway.tracking.spec import TrackerSpec
from gateway.tracking.track_state import TrackState

UNMATCHED = -1.0
"""Similarity of a pair that must never match (labels differ, a box taken)."""


@dataclass(frozen=True, slots=True)
class Leftovers:
    """One past frame's detections, for tracing new tracks back: those no confirmed track had when
    the frame was tracked, and (``claimed``) those one had, where a trace stops."""

    timestamp: float
    labels: npt.NDArray[np.intp]
    boxes: npt.NDArray[np.float64]
    owners: tuple[TrackState | None, ...]
    """Per box: the track that took or started on it, if any; once that track is confirmed, the
    box is its own history and no longer anyone's origin."""
    duplicates: npt.NDArray[np.bool_]
    """Per box: on top of a box a track took on that frame (the detector's duplicate of it)."""
    claimed: npt.NDArray[np.bool_]
    """Per box: taken by a track that was confirmed on that frame: the object was that track's."""

    def free(self) -> npt.NDArray[np.bool_]:
        owned = np.fromiter(
            (owner is not None and owner.track_id is not None for owner in self.owners),
            bool,
            len(self.owners),
        )
        return ~owned & ~self.duplicates


class Origins:
    """The recent frames' leftovers of one tracker, oldest first."""

    def __init__(self) -> None:
        self._frames: deque[Leftovers] = deque()

    def remember(
        self,
        timestamp: float,
        labels: npt.NDArray[np.intp],
        boxes: npt.NDArray[np.float64],
        taken_by: dict[int, TrackState],
        duplicates: npt.NDArray[np.bool_],
    ) -> None:
        """Keep this frame's detections for tracing new tracks back, marking those a confirmed
        track has (``Leftovers.claimed``).

        A frame without any is not kept: the trace forgives missed frames anyway.
        """
        owners = tuple(taken_by.get(column) for column in range(len(labels)))
        claimed = np.fromiter(
            (owner is not None and owner.track_id is not None for owner in owners), bool, len(owners)
        )
        self._frames.append(Leftovers(timestamp, labels, boxes, owners, duplicates, claimed))

    def forget(self, timestamp: float, max_lost_s: float) -> None:
        """Drop the frames older than ``max_lost_s`` before ``timestamp``: no trace reaches them."""
        oldest = timestamp - max_lost_s
        while self._frames and self._frames[0].timestamp < oldest:
            self._frames.popleft()

    def trace(
        self, label: int, box: npt.NDArray[np.float64], timestamp: float, spec: TrackerSpec
    ) -> tuple[Box, float, int]:
        """The earliest box a new track's first detection traces back to through the leftovers of
        the frames before, the capture time of its frame, and on how many of those frames it was
        found (step 6 of ``tracker.py``'s module doc)."""
        earliest, at = box, timestamp
        found = 0
        for frame in reversed(self._frames):
            if timestamp - frame.timestamp > spec.max_lost_s:
                break
            margin = spec.max_speed * (at - frame.timestamp) * (earliest[3] - earliest[1])
            overlap = iou_matrix(earliest[None, :], frame.boxes, np.array([margin]))[0]
            overlap[frame.labels != label] = UNMATCHED
            usable = np.where(frame.free(), overlap, UNMATCHED)
            best = int(np.argmax(usable))
            if usable[best] >= spec.confirm_iou:
                earliest, at = frame.boxes[best], frame.timestamp
                found += 1
            elif (overlap[frame.claimed] >= spec.confirm_iou).any():
                break  # here the object was a confirmed track's: what came before is that track's
        left, top, right, bottom = earliest.tolist()
        return (left, top, right, bottom), at, found
