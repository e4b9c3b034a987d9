"""A camera's multi-object tracker: ByteTrack's association with a time-aware motion model.

Per frame (``Tracker.update``), after moving every track's Kalman filter ahead by the real time
since the previous frame (frames come at ``detect_fps``, minus the dropped ones):

1. confirmed tracks, observed or missing, take the high-score detections (score >= ``high_score``)
   by IoU with their predicted boxes, at least ``match_iou``;
2. confirmed tracks still unmatched that were observed on the previous frame take the low-score
   ones (``low_score`` <= score < ``high_score``) at IoU >= ``low_match_iou``: a partly hidden or
   blurred object scores low, and ByteTrack's point is that this keeps its track rather than
   dropping it or starting a new one;
3. confirmed tracks still unmatched that were observed on the previous frame, and those searching
   for their object (below), try the remaining high-score detections in one pass with buffered
   IoU (C-BIoU), at least ``match_iou``: both boxes widened by how far the object could have gone
   since the track last saw it, at up to ``max_speed``, for where the motion model is wrong (a
   turn, a stop, a start, coming out from behind something). A track searches when it went missing
   behind another object (its last box touched the box of a track observed on the frame it was
   first missing on, or on a later one while it is missing, of a track confirmed before it went
   missing; boxes within the detector's jitter, ``measurement_noise``, of touching touch) or was
   missing on the previous frame only. Tracks missing longer anywhere else are
   left to their prediction: widened by up to a second of travel, they would take over a
   newcomer;
4. tentative tracks (seen, not yet confirmed) take the remaining high-score detections, buffered
   the same way (their velocity is a guess), at IoU >= ``confirm_iou``; one matched
   ``confirm_hits`` times in a row is confirmed and only then gets an id, so a false positive on
   one frame never uses one up; one that misses a frame is dropped;
5. searching tracks take the remaining low-score detections, buffered the same way, at
   ``low_match_iou`` (half out, an object scores low), except a low-score box on top of one a
   track took this frame (the detector's duplicate);
6. a remaining detection with score >= ``new_track_score`` starts a tentative track, unless it is
   the detector's duplicate of a box a track took this frame (IoU >= ``duplicate_iou``, of any
   label); its ``origin`` is traced back through the detections of the last ``max_lost_s`` that
   no confirmed track has and that are no duplicate of a box a track took (too weak to start a
   track, or of a tentative track that was dropped), newest first, buffered the same way, at IoU
   >= ``confirm_iou``; a frame without one is a miss, forgiven as a confirmed track's misses are,
   unless a box a confirmed track took on it matches: there the object was that track's, and the
   trace stops (below). One traced through ``confirm_hits`` earlier frames or more is confirmed at
   once: the object has been seen on more frames than a tentative track needs, if weakly. A new
   track's motion model starts with the velocity of its traced path (from its origin to its first
   box), at rest when nothing was traced.

Why a new track moves as its traced path did: a track confirmed at once has no frames of its own
for the motion model to learn its velocity from, and, started at rest, it was left where it was
confirmed once the object was missed for more than one frame. A person at 2 box heights a second,
seen on every other frame at 10 fps and then missed for 0.3 s while crossing a line, came back
beyond the line to a new track whose origin was there too, and the crossing was never counted.
Replayed (``bench/tracking_replay.py``) on the hold-out's 12 clips (seeds 19-20, recorded on a
loaded host: 85..150 of 150 frames judged): ID switches 5 -> 4, missed boxes 111 -> 110, every rule
event as before; on the 18 recorded clips of seeds 0-2 nothing changed.

Why a duplicate starts no track: face-detector has two labels (FACE_FEMALE, FACE_MALE) and its
non-maximum suppression is per label, so a face it is unsure of may come out twice, one box on
the other (on the 90 clips recorded for seeds 0-14: 193 pairs of boxes overlapping at IoU 0.3 or
more, every one at 0.8 or more, the weaker box scoring 0.31 at the median and 0.4 or more 9 times;
different faces never overlapped that much). Every pass is class-aware, so a second box that scored
``new_track_score`` started a track of its own: a second person standing where one stood, who made
a crowd of six out of five and a stationary alert of their own (the tracking benchmark's crowd-2
and crowd-11, once rules followed tracks from the detector's operating score, 0.4). Replayed on
the 90 recorded clips of seeds 0-14: false positive boxes 73 -> 43, missed boxes and ID switches
unchanged.

Why tracks search, why a track missed on one frame looks wider and why a traced path confirms at once:
``passes.py``. Why trace back: ``origins.py``.

Every pass is class-aware: a detection never continues a track of another label. A confirmed
track that is not observed is kept (``observed`` False, its last box) while it has been missing
for at most ``max_lost_s`` seconds of capture time, counted from the first frame it was missing
on; then it ends, and its id is never given out again by this tracker (``first_id`` lets a
restarted gateway continue past the ids it used). Counting from the first frame without it, not
from the last frame with it, makes a miss as long as the frames say: one frame missed at 5 fps
is a 0.2 s miss, and a stall of the pipeline (no frames at all for a while) is no miss.

Why our own and not a library. Measured by ``bench/tracking_compare.py``: the face-detector output
that ``bench/tracking.py`` recorded on its 18 clips (3,497 truth boxes; bench/results/
tracking-detections.json, recorded again after the loiter scene changed) replayed through each
tracker, and CPU per frame on a synthetic camera (ranges over five to seven runs on a loaded host,
load average 6..10, from the recording before; the re-recorded replay's run in
bench/results/tracking-compare.md). In brackets: the previous recording's figures (3,428 truth
boxes) and, after them, those of one with two clips played at once, which lost a third of the frames
(2,901 truth boxes).

==================================  ============  ===================  ==============  ===================
tracker                             ID switches   MOTA                 ms/frame at 20  at 0 / 5 / 50
==================================  ============  ===================  ==============  ===================
this one (greedy assignment)        3 (15, 16)    0.965 (0.945, 0.93)  0.25 .. 0.41    0.04 / 0.2 / 0.5-0.6
this one, scipy's optimal assign    3 (15, 16)    0.965 (0.945, 0.93)  0.24 .. 0.39    0.04 / 0.2 / 0.4-0.6
``trackers`` 2.6.1 ByteTrack        11 (12, 19)   0.612 (0.599, 0.55)  0.77 .. 0.88    0.01 / 0.3 / 1.6-2.0
  the same, with our thresholds     20 (29, 56)   0.953 (0.943, 0.90)  0.76 .. 0.90    0.01 / 0.3 / 1.8-2.3
==================================  ============  ===================  ==============  ===================

Roboflow's ``trackers`` is where ``supervision``'s ByteTrack went (``supervision`` 0.31 ships
none). For an edge box it drags in supervision, matplotlib, PyAV, requests, rich, scipy and the
GUI build of OpenCV, which clashes with the headless one we ship (660 MB in a fresh venv); it is
class-agnostic (a detection may continue a track of another label) and reports no missing
tracks; with its defaults (new tracks only from score 0.7) it misses many of these faces, and
with our thresholds it switches ids two to seven times as often (3.5 times when frames are lost)
at three times the CPU. So: our own, in numpy alone. The optimal assignment changed no id on the
benchmark, so the greedy one (``association.py``) saves the scipy dependency (140 MB installed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.domain import Detection, Track
from gateway.tracking.association import Assign, greedy_assign
from gateway.tracking.motion import MotionModel
from gateway.tracking.origins import Origins
from gateway.tracking.passes import associate, mark_hidden, taken_overlap
from gateway.tracking.spec import TrackerSpec
from gateway.tracking.track_state import TrackState

__all__ = ["Tracker", "TrackerInputError", "TrackerOutput", "TrackerSpec"]


class TrackerInputError(ValueError):
    """A frame the tracker refuses (time going back, a score or box that is not finite), raised
    before anything changed: the tracker is as it was, and may take the next frame."""


@dataclass(frozen=True, slots=True)
class TrackerOutput:
    tracks: tuple[Track, ...]
    """Every live confirmed track, by id: observed on this frame, or missing for at most max_lost_s."""
    detections: tuple[Detection, ...]
    """The input detections in their order, each with ``track_id`` set where it belongs to a
    confirmed track and None otherwise (tentative, too low a score, or a frame-level result)."""
    ended: tuple[Track, ...] = ()
    """Tracks that ended on this frame (missing for longer than max_lost_s), as last reported."""


class Tracker:
    """Stable ids for one camera's detections. Not thread-safe: one camera, one caller at a time.

    Feed it every result of the camera's detector, in capture order, and nothing else: a result of
    another model (the scene-anomaly one) would be a frame on which every object was missing.
    """

    def __init__(self, spec: TrackerSpec, *, first_id: int = 1, assign: Assign = greedy_assign) -> None:
        if first_id < 1:
            raise ValueError(f"first_id must be at least 1, got {first_id}")
        self.spec = spec
        self._assign = assign
        self._next_id = first_id
        self._motion = MotionModel(spec.acceleration, spec.measurement_noise, spec.initial_velocity)
        self._states: list[TrackState] = []
        self._label_codes: dict[str, int] = {}
        self._last_timestamp: float | None = None
        self._origins = Origins()

    @property
    def next_id(self) -> int:
        """The id the next confirmed track will get (ids below it were given out already)."""
        return self._next_id

    def update(self, timestamp: float, detections: Sequence[Detection]) -> TrackerOutput:
        """Track one frame's detections; ``timestamp`` is its capture time in seconds and must not
        go backwards (the caller drops results that arrive late). Every detection's score and box
        must be finite numbers. Input that breaks these raises TrackerInputError before anything changes:
        the tracker is left as it was, as if the frame had never come."""
        if not math.isfinite(timestamp):
            raise TrackerInputError(f"frame timestamp must be finite, got {timestamp!r}")
        if self._last_timestamp is not None and timestamp < self._last_timestamp:
            raise TrackerInputError(
                f"frame timestamp {timestamp} is before the previous frame's {self._last_timestamp}"
            )
        _check_finite(detections)
        previous = self._last_timestamp
        dt = 0.0 if previous is None else timestamp - previous
        self._last_timestamp = timestamp
        ended = self._end_lost(timestamp)
        coasting = np.fromiter((not state.observed for state in self._states), bool, len(self._states))
        self._motion.predict(dt, coasting)

        spec = self.spec
        candidates = [
            index
            for index, detection in enumerate(detections)
            if detection.box is not None and detection.score >= spec.low_score
        ]
        boxes = np.array([detections[index].box for index in candidates], dtype=np.float64).reshape(-1, 4)
        scores = np.fromiter((detections[index].score for index in candidates), np.float64, len(candidates))
        labels = self._label_array(detections, candidates)
        track_for = associate(
            self._states,
            self._motion.boxes(),
            self._labels_differ(labels),
            boxes,
            scores,
            coasting=coasting,
            timestamp=timestamp,
            previous=previous,
            spec=spec,
            assign=self._assign,
        )
        rows = np.flatnonzero(track_for >= 0)
        self._motion.correct(rows, boxes[track_for[rows]])
        # Candidate -> the track that took it (for the leftovers: see Origins.remember).
        taken_by: dict[int, TrackState] = {}
        keep = np.ones(len(self._states), dtype=bool)
        for row, state in enumerate(self._states):
            column = int(track_for[row])
            if column >= 0:
                taken_by[column] = state
            if column < 0:
                state.observed = False
                if state.missing_since is None:
                    state.missing_since = timestamp
                keep[row] = state.track_id is not None
                continue
            detection = detections[candidates[column]]
            assert detection.box is not None
            state.box, state.score, state.observed = detection.box, detection.score, True
            state.peak_score = max(state.peak_score, detection.score)
            state.last_seen, state.missing_since, state.hidden = timestamp, None, False
            state.hits += 1
            if state.track_id is None and state.hits >= spec.confirm_hits:
                self._confirm(state, timestamp)
        # Candidate index -> id of the confirmed track it continues.
        assigned = {
            candidates[column]: state.track_id
            for column, state in taken_by.items()
            if state.track_id is not None
        }
        if not keep.all():
            self._motion.keep(keep)
            self._states = [state for state, kept in zip(self._states, keep.tolist(), strict=True) if kept]
        mark_hidden(self._states, timestamp, spec.measurement_noise)
        taken = np.zeros(len(candidates), dtype=bool)
        taken[track_for[track_for >= 0]] = True
        overlap = taken_overlap(boxes, taken)
        duplicates = overlap >= spec.low_match_iou
        starting = (scores >= spec.new_track_score) & ~taken & (overlap < spec.duplicate_iou)
        taken_by.update(
            self._start(
                detections,
                candidates,
                boxes,
                labels,
                starting=starting,
                timestamp=timestamp,
                assigned=assigned,
            )
        )
        if candidates:
            self._origins.remember(timestamp, labels, boxes, taken_by, duplicates)
        self._origins.forget(timestamp, spec.max_lost_s)

        # By id without sorting: a tentative track is confirmed exactly confirm_hits - 1 frames after
        # it started or dropped, so tracks are confirmed, and numbered, in the order they started.
        tracked = tuple(state.report(state.track_id) for state in self._states if state.track_id is not None)
        labelled = tuple(
            Detection(detection.label, detection.score, detection.box, assigned.get(index))
            if detection.track_id != assigned.get(index)
            else detection
            for index, detection in enumerate(detections)
        )
        return TrackerOutput(tracked, labelled, ended)

    def _end_lost(self, timestamp: float) -> tuple[Track, ...]:
        """Drop confirmed tracks missing for longer than max_lost_s, before they can match again."""
        limit = self.spec.max_lost_s
        alive = [
            state.missing_since is None or timestamp - state.missing_since <= limit for state in self._states
        ]
        if all(alive):
            return ()
        ended = tuple(
            state.report(state.track_id)
            for state, live in zip(self._states, alive, strict=True)
            if not live and state.track_id is not None
        )
        self._motion.keep(np.asarray(alive, dtype=bool))
        self._states = [state for state, live in zip(self._states, alive, strict=True) if live]
        return ended

    def _labels_differ(self, labels: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        """Tracks x candidates (their ``labels`` codes): True where the labels differ (such a pair
        never matches)."""
        codes = self._label_codes
        track_labels = np.fromiter(
            (codes.setdefault(state.label, len(codes)) for state in self._states), np.intp, len(self._states)
        )
        differ: npt.NDArray[np.bool_] = track_labels[:, None] != labels[None, :]
        return differ

    def _label_array(self, detections: Sequence[Detection], candidates: list[int]) -> npt.NDArray[np.intp]:
        """Per candidate: its label's code (codes are this tracker's own, one per label seen)."""
        codes = self._label_codes
        return np.fromiter(
            (codes.setdefault(detections[index].label, len(codes)) for index in candidates),
            np.intp,
            len(candidates),
        )

    def _confirm(self, state: TrackState, timestamp: float) -> int:
        track_id = state.track_id = self._next_id
        state.first_seen_at = timestamp
        self._next_id += 1
        return track_id

    def _start(
        self,
        detections: Sequence[Detection],
        candidates: list[int],
        boxes: npt.NDArray[np.float64],
        labels: npt.NDArray[np.intp],
        *,
        starting: npt.NDArray[np.bool_],
        timestamp: float,
        assigned: dict[int, int],
    ) -> list[tuple[int, TrackState]]:
        """Start a tentative track on each ``starting`` candidate; (candidate, its track) for each."""
        columns = np.flatnonzero(starting)
        if not columns.size:
            return []
        traces = [
            self._origins.trace(int(labels[column]), boxes[column], timestamp, self.spec)
            for column in columns.tolist()
        ]
        self._motion.add(
            boxes[columns],
            np.array([origin for origin, _, _ in traces], dtype=np.float64),
            np.fromiter((timestamp - origin_at for _, origin_at, _ in traces), np.float64, len(traces)),
        )
        started = []
        for column, (origin, origin_at, traced) in zip(columns.tolist(), traces, strict=True):
            detection = detections[candidates[column]]
            assert detection.box is not None
            state = TrackState(
                label=detection.label,
                track_id=None,
                hits=1,
                last_seen=timestamp,
                missing_since=None,
                box=detection.box,
                score=detection.score,
                observed=True,
                first_seen_at=timestamp,
                origin=origin,
                origin_at=origin_at,
                peak_score=detection.score,
            )
            if self.spec.confirm_hits <= 1 or traced >= self.spec.confirm_hits:
                assigned[candidates[column]] = self._confirm(state, timestamp)
            self._states.append(state)
            started.append((column, state))
        return started


def _check_finite(detections: Sequence[Detection]) -> None:
    """Raise TrackerInputError naming the first detection whose score or box is not finite numbers."""
    for index, detection in enumerate(detections):
        values = (detection.score, *(detection.box or ()))
        if not all(math.isfinite(value) for value in values):
            raise TrackerInputError(
                # repr: the label is the model's text, and a newline in it would forge a log line.
                f"detection {index} ({detection.label!r}) has a score or box coordinate that is not a "
                f"finite number: score {detection.score!r}, box {detection.box!r}"
            )
