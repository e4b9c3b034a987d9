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
   the same way (they have no velocity yet), at IoU >= ``confirm_iou``; one matched
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
   once: the object has been seen on more frames than a tentative track needs, if weakly.

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

Why tracks search: someone a passer-by walks in front of is hidden while the other passes, and
comes out on the passer's far side, where the motion model does not look (a half-covered box seems
to stop as it goes); a new track there restarts every clock a rule keeps for them (loiter,
stationary). Found on the tracking benchmark's loiter-6, whose loiter alert came 2.1 s late, and
loiter-8 (the loiterer scored 0.34 on its first frame out, and its track ran out of ``max_lost_s``
before it scored higher). A track hidden by another object is the one object that may come out of
it; a track lost anywhere else (at the frame's edge, where someone else may walk in) keeps to its
prediction (step 1). Searching tracks compete with the tracks seen on the previous frame in one
pass, the best overlap first: on loiter-12 the detector missed the passer on the frame the loiterer
came out behind it, and when the passer's track looked wider first it took the loiterer's box, and
the two tracks swapped objects (replayed on the 78 recorded clips of seeds 0-12: that swap gone,
nothing else changed). Cost, with ``Track.peak_score``: 0.36 against 0.29 ms per frame at 20
objects, 0.73 against 0.60 at 50 (medians of five rounds interleaved with the tracker before both,
load average 1.4).

Why a track is also hidden by what passes over it later: the detector often misses a face on the
frame before a passer reaches it (partly covered, it scores low), and the passer's box did not
touch the face's last box then; one frame later it did. On the tracking benchmark's loiter-15 (seed
15, a hold-out) the loiterer's track, missed so, was left to its prediction, the loiterer came out
on the passer's far side scoring 0.36, and a new track restarted its time in the zone: its loiter
alert came 2.3 s late. Only a track confirmed before the lost one went missing counts as passing
over it: a newcomer arriving where someone was lost (a door) is not what hid them. Replayed on the
102 recorded clips of seeds 0-16: that alert on time, ID switches 25 -> 24, missed boxes 742 ->
736, nothing else changed.

Why boxes within the detector's jitter of touching touch: a passer walking behind a face has the
bottom of its box cut off by the face, and the cut box ends at the face's edge, give or take the
detector's jitter. On the tracking benchmark's loiter-17 (seed 17, a hold-out) it ended 0.003 short
of the face's box, and 0.01 (a fifteenth of its height) short of the face's box on the next frame
the face was seen, the detector having missed both on the frame between; the passer's track was
not taken as hidden and kept to a prediction made from its cut box, and as the passer
came out on the far side the face's track, seen on the frame before and missed on this one, took
its box: the two swapped, and the face loitered a second time on a new track. Each box is widened by
``measurement_noise`` box heights for the test. Replayed on the 114 recorded clips of seeds 0-18:
that swap gone (ID switches on seeds 17-18 4 -> 2, missed boxes 103 -> 101), nothing else changed.

Why a track missed on one frame looks wider, and why a traced path confirms at once: a face
walking in along the frame's bottom edge and turning up across a line scored under
``new_track_score`` on most frames around its crossing, once over it (a tentative track, dropped on
the next frame, which the detector missed), and its track was confirmed only two strong frames
later, past the line (the tracking benchmark's crowd-10, its crossing 0.6 s late). Confirmed at
once on its strong frame, its track still lost the object on the missed frame: when the object
turned, its box had moved more than a box height, where the motion model did not look, and it
scored low there. One missed frame is the shortest miss, after which a newcomer in the track's
place is the least likely; a track missing longer keeps to its prediction (step 1). Replayed on the
66 recorded clips of seeds 0-10: ID switches 28 -> 15, missed boxes 544 -> 483, false positives
39 -> 43, every rule event exact.

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

Every pass is class-aware: a detection never continues a track of another label. A confirmed
track that is not observed is kept (``observed`` False, its last box) while it has been missing
for at most ``max_lost_s`` seconds of capture time, counted from the first frame it was missing
on; then it ends, and its id is never given out again by this tracker (``first_id`` lets a
restarted gateway continue past the ids it used). Counting from the first frame without it, not
from the last frame with it, makes a miss as long as the frames say: one frame missed at 5 fps
is a 0.2 s miss, and a stall of the pipeline (no frames at all for a while) is no miss.

Why our own and not a library. Measured by ``bench/tracking_compare.py``: the face-detector output
that ``bench/tracking.py`` recorded on its 18 clips (3,428 truth boxes; bench/results/
tracking-detections.json) replayed through each tracker, and CPU per frame on a synthetic camera
(2 cores shared with other work, load average 6..10: upper bounds; ranges over five to seven runs;
bench/results/tracking-compare.md). In brackets: the same on detections recorded with two clips
played at once, which lost a third of the frames (2,901 truth boxes).

==================================  ===========  ============  ==============  ===================
tracker                             ID switches  MOTA          ms/frame at 20  at 0 / 5 / 50
==================================  ===========  ============  ==============  ===================
this one (greedy assignment)        15 (16)      0.945 (0.93)  0.25 .. 0.41    0.04 / 0.2 / 0.5-0.6
this one, scipy's optimal assign    15 (16)      0.945 (0.93)  0.24 .. 0.39    0.04 / 0.2 / 0.4-0.6
``trackers`` 2.6.1 ByteTrack        12 (19)      0.599 (0.55)  0.77 .. 0.88    0.01 / 0.3 / 1.6-2.0
  the same, with our thresholds     29 (56)      0.943 (0.90)  0.76 .. 0.90    0.01 / 0.3 / 1.8-2.3
==================================  ===========  ============  ==============  ===================

Roboflow's ``trackers`` is where ``supervision``'s ByteTrack went (``supervision`` 0.31 ships
none). For an edge box it drags in supervision, matplotlib, PyAV, requests, rich, scipy and the
GUI build of OpenCV, which clashes with the headless one we ship (660 MB in a fresh venv); it is
class-agnostic (a detection may continue a track of another label) and reports no missing
tracks; with its defaults (new tracks only from score 0.7) it misses many of these faces, and
with our thresholds it switches ids twice as often (3.5 times when frames are lost) at three
times the CPU. So: our own, in numpy alone. The optimal assignment changed no id on the benchmark,
so the greedy one (``association.py``) saves the scipy dependency (140 MB installed).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.domain import Box, Detection, Track
from gateway.tracking.association import Assign, greedy_assign, iou_matrix
from gateway.tracking.motion import MotionModel
from gateway.tracking.spec import TrackerSpec

__all__ = ["Tracker", "TrackerInputError", "TrackerOutput", "TrackerSpec"]

_UNMATCHED = -1.0


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


@dataclass(slots=True)
class _State:
    """Book-keeping of one track; its Kalman filter is the row of the same index in MotionModel."""

    label: str
    track_id: int | None
    """None while tentative."""
    hits: int
    last_seen: float
    missing_since: float | None
    """Capture time of the first frame it was missing on, since it was last observed."""
    box: Box
    score: float
    observed: bool
    first_seen_at: float
    origin: Box
    origin_at: float
    peak_score: float
    hidden: bool = False
    """Went missing behind another object (while it was missing, its last box touched one observed
    on the same frame: see ``Tracker._note_hidden``); False while observed."""

    def report(self, track_id: int) -> Track:
        return Track(
            track_id,
            self.label,
            self.score,
            self.box,
            self.observed,
            self.first_seen_at,
            self.origin,
            self.peak_score,
            self.origin_at,
        )


@dataclass(frozen=True, slots=True)
class _Leftovers:
    """One past frame's detections, for tracing new tracks back: those no confirmed track had when
    the frame was tracked, and (``claimed``) those one had, where a trace stops."""

    timestamp: float
    labels: npt.NDArray[np.intp]
    boxes: npt.NDArray[np.float64]
    owners: tuple[_State | None, ...]
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


@dataclass(slots=True)
class _Matching:
    track_for: npt.NDArray[np.intp]
    """Per track row: the candidate detection it takes on this frame, or -1."""
    taken: npt.NDArray[np.bool_]
    """Per candidate: taken by a track."""


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
        self._states: list[_State] = []
        self._label_codes: dict[str, int] = {}
        self._last_timestamp: float | None = None
        self._leftovers: deque[_Leftovers] = deque()

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
        track_for = self._associate(
            labels, boxes, scores, coasting=coasting, timestamp=timestamp, previous=previous
        )
        rows = np.flatnonzero(track_for >= 0)
        self._motion.correct(rows, boxes[track_for[rows]])
        # Candidate -> the track that took it (for the leftovers: see _remember_leftovers).
        taken_by: dict[int, _State] = {}
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
        self._note_hidden(timestamp)
        taken = np.zeros(len(candidates), dtype=bool)
        taken[track_for[track_for >= 0]] = True
        overlap = _taken_overlap(boxes, taken)
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
            self._remember_leftovers(timestamp, labels, boxes, taken_by, duplicates)
        self._forget_leftovers(timestamp)

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

    def _associate(
        self,
        labels: npt.NDArray[np.intp],
        boxes: npt.NDArray[np.float64],
        scores: npt.NDArray[np.float64],
        *,
        coasting: npt.NDArray[np.bool_],
        timestamp: float,
        previous: float | None,
    ) -> npt.NDArray[np.intp]:
        """Per track row: the candidate it takes on this frame, or -1 (the passes of the module doc)."""
        spec = self.spec
        predicted = self._motion.boxes()
        labels_differ = self._labels_differ(labels)
        similarity = iou_matrix(predicted, boxes)
        similarity[labels_differ] = _UNMATCHED
        matching = _Matching(np.full(len(self._states), -1, dtype=np.intp), np.zeros(len(labels), dtype=bool))
        high = scores >= spec.high_score
        confirmed = np.fromiter(
            (state.track_id is not None for state in self._states), bool, len(self._states)
        )
        self._pass(matching, similarity, confirmed, high, spec.match_iou)
        self._pass(matching, similarity, confirmed & ~coasting, ~high, spec.low_match_iou)
        searching = np.fromiter(
            (state.hidden or state.missing_since == previous for state in self._states),
            bool,
            len(self._states),
        )
        # Past here only high-score detections are taken, and low-score ones by searching tracks.
        wanted = high | searching.any()
        if not (wanted & ~matching.taken).any() or (matching.track_for >= 0).all():
            return matching.track_for
        # Where the motion model cannot be trusted (a tentative track has no velocity yet; a
        # confirmed one may have turned or stopped), widen both boxes by how far the object could
        # have gone since it was last seen, at up to max_speed.
        elapsed = np.fromiter(
            (timestamp - state.last_seen for state in self._states),
            np.float64,
            len(self._states),
        )
        margins = spec.max_speed * elapsed * (predicted[:, 3] - predicted[:, 1])
        buffered = iou_matrix(predicted, boxes, margins)
        buffered[labels_differ] = _UNMATCHED
        self._pass(matching, buffered, (confirmed & ~coasting) | searching, high, spec.match_iou)
        self._pass(matching, buffered, ~confirmed, high, spec.confirm_iou)
        if searching.any():
            # A weak box on top of one a track took is the detector's duplicate of that object, not
            # the one searched for coming out.
            duplicates = _taken_overlap(boxes, matching.taken) >= spec.low_match_iou
            self._pass(matching, buffered, searching, ~high & ~duplicates, spec.low_match_iou)
        return matching.track_for

    def _note_hidden(self, timestamp: float) -> None:
        """Mark the confirmed tracks missing on this frame whose last box touches (within
        ``measurement_noise`` box heights) the box of a track observed on it: any track on the
        frame they were first missing on, later a track confirmed before they went missing (step 3
        of the module doc)."""
        missing = [
            state
            for state in self._states
            if state.track_id is not None and state.missing_since is not None and not state.hidden
        ]
        if not missing:
            return
        seen_states = [state for state in self._states if state.observed]
        if not seen_states:
            return
        seen = np.array([state.box for state in seen_states], dtype=np.float64)
        boxes = np.array([state.box for state in missing], dtype=np.float64)
        overlap = iou_matrix(boxes, seen, self.spec.measurement_noise * (boxes[:, 3] - boxes[:, 1]))
        for state, row in zip(missing, overlap, strict=True):
            assert state.missing_since is not None
            first = state.missing_since == timestamp
            state.hidden = any(
                value > 0.0
                and (first or (other.track_id is not None and other.first_seen_at < state.missing_since))
                for value, other in zip(row.tolist(), seen_states, strict=True)
            )

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

    def _remember_leftovers(
        self,
        timestamp: float,
        labels: npt.NDArray[np.intp],
        boxes: npt.NDArray[np.float64],
        taken_by: dict[int, _State],
        duplicates: npt.NDArray[np.bool_],
    ) -> None:
        """Keep this frame's detections for tracing new tracks back, marking those a confirmed
        track has (``_Leftovers.claimed``).

        A frame without any is not kept: the trace forgives missed frames anyway.
        """
        owners = tuple(taken_by.get(column) for column in range(len(labels)))
        claimed = np.fromiter(
            (owner is not None and owner.track_id is not None for owner in owners), bool, len(owners)
        )
        self._leftovers.append(_Leftovers(timestamp, labels, boxes, owners, duplicates, claimed))

    def _forget_leftovers(self, timestamp: float) -> None:
        oldest = timestamp - self.spec.max_lost_s
        while self._leftovers and self._leftovers[0].timestamp < oldest:
            self._leftovers.popleft()

    def _trace(self, label: int, box: npt.NDArray[np.float64], timestamp: float) -> tuple[Box, float, int]:
        """The earliest box a new track's first detection traces back to through the leftovers of
        the frames before, the capture time of its frame, and on how many of those frames it was
        found (the module doc's step 6)."""
        spec = self.spec
        earliest, at = box, timestamp
        found = 0
        for frame in reversed(self._leftovers):
            if timestamp - frame.timestamp > spec.max_lost_s:
                break
            margin = spec.max_speed * (at - frame.timestamp) * (earliest[3] - earliest[1])
            overlap = iou_matrix(earliest[None, :], frame.boxes, np.array([margin]))[0]
            overlap[frame.labels != label] = _UNMATCHED
            usable = np.where(frame.free(), overlap, _UNMATCHED)
            best = int(np.argmax(usable))
            if usable[best] >= spec.confirm_iou:
                earliest, at = frame.boxes[best], frame.timestamp
                found += 1
            elif (overlap[frame.claimed] >= spec.confirm_iou).any():
                break  # here the object was a confirmed track's: what came before is that track's
        left, top, right, bottom = earliest.tolist()
        return (left, top, right, bottom), at, found

    def _pass(
        self,
        matching: _Matching,
        similarity: npt.NDArray[np.float64],
        track_rows: npt.NDArray[np.bool_],
        detection_columns: npt.NDArray[np.bool_],
        floor: float,
    ) -> None:
        """One association pass between the still free tracks and detections the masks select."""
        rows = np.flatnonzero(track_rows & (matching.track_for < 0))
        columns = np.flatnonzero(detection_columns & ~matching.taken)
        if not rows.size or not columns.size:
            return
        matched_rows, matched_columns = self._assign(similarity[np.ix_(rows, columns)], floor)
        matching.track_for[rows[matched_rows]] = columns[matched_columns]
        matching.taken[columns[matched_columns]] = True

    def _confirm(self, state: _State, timestamp: float) -> int:
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
    ) -> list[tuple[int, _State]]:
        """Start a tentative track on each ``starting`` candidate; (candidate, its track) for each."""
        columns = np.flatnonzero(starting)
        if not columns.size:
            return []
        self._motion.add(boxes[columns])
        started = []
        for column in columns.tolist():
            detection = detections[candidates[column]]
            assert detection.box is not None
            origin, origin_at, traced = self._trace(int(labels[column]), boxes[column], timestamp)
            state = _State(
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


def _taken_overlap(boxes: npt.NDArray[np.float64], taken: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Per box: its highest IoU with another box that a track took (high: the detector's duplicate
    of that object)."""
    rows = np.flatnonzero(taken)
    if not rows.size:
        return np.zeros(len(boxes), dtype=np.float64)
    overlap = iou_matrix(boxes[rows], boxes)
    overlap[np.arange(rows.size), rows] = 0.0
    return np.asarray(overlap.max(axis=0), dtype=np.float64)
