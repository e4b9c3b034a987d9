"""An object whose track is lost near a counting line and that comes back under a new track id: the
real tracker and the real rules, frames scripted (5 fps, one person box per detection).

What can tell the side a new track came from is its ``Track.origin``: the tracker traces the new
track's first box back through the detections of the last ``max_lost_s`` that no track had (too
weak to keep or start one). When the detector saw the object, however weakly, on the far side in
that time, the crossing is counted from there, once. When it saw nothing for longer than
``max_lost_s``, only the lost track's last sighting can link the two: ``test_crossing_reacquired``."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain import Detection, FrameResult, ModelRef
from gateway.rules.engine import RuleEngine
from gateway.rules.geometry import Line
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import Tracker, TrackerSpec

DETECTOR = ModelRef("detector", 1)
DOOR = Line("door", (0.5, 0.05), (0.5, 0.95), (1.0, 0.0))
"""Upright, mid-frame; left to right is ``in``."""
ENTERING = RuleSpec(
    "entering", RuleType.LINE_CROSSING, "detector", frozenset({"person"}), (), 0.5, 1, EventTiming(), DOOR
)
STEP_S = 0.2
FLOOR = 0.7
"""The bottom edge of the walking person's boxes."""

Seen = tuple[float, float, float]
"""(score, bottom-centre x, bottom y) of one person box."""


def crossings(frames: Sequence[Sequence[Seen]], step_s: float = STEP_S) -> list[tuple[int | None, str]]:
    """Play the frames, ``step_s`` apart, through the tracker (default spec: max_lost_s 1.0) and the
    rules."""
    tracker, engine = Tracker(TrackerSpec()), RuleEngine([CameraRules("gate", (ENTERING,))])
    found = []
    for index, seen in enumerate(frames):
        at = 100.0 + index * step_s
        boxes = [Detection("person", score, (x - 0.05, y - 0.2, x + 0.05, y)) for score, x, y in seen]
        output = tracker.update(at, boxes)
        result = FrameResult("gate", index, at, DETECTOR, output.detections, tracks=output.tracks)
        for event in engine.process(result):
            found.append((event.track_id, event.direction.value if event.direction else ""))
    return found


def walk(score: float, *xs: float) -> list[list[Seen]]:
    return [[(score, x, FLOOR)] for x in xs]


LEFT = walk(0.9, 0.20, 0.23, 0.26, 0.29, 0.32)
"""Track 1, confirmed on the left of the door."""


def test_lost_on_the_near_side_and_back_under_a_new_id_beyond_counts_from_weak_sightings() -> None:
    # Given track 1 on the left, then missed, then seen too weakly to keep any track while it
    # crosses (longer than max_lost_s: track 1 ends), then seen strongly beyond the door
    frames = [*LEFT, [], [], *walk(0.3, 0.41, 0.44, 0.47, 0.50, 0.53, 0.56), *walk(0.9, 0.59, 0.62, 0.65)]
    # Then the new track's origin is on the left: one crossing, in, by the new track
    assert crossings(frames) == [(2, "in")]


def test_a_new_track_confirmed_on_the_line_counts_from_its_origin_when_it_leaves_the_line() -> None:
    # Given the weak sightings cross to just short of the door, and the new track is confirmed
    # standing on it (within the detector's jitter of the line), then walks on
    frames = [*LEFT, [], [], [], *walk(0.3, 0.38, 0.41, 0.44, 0.47), *walk(0.9, 0.502, 0.53, 0.56)]
    # Then its origin, on the left, still decides: one crossing, in
    assert crossings(frames) == [(2, "in")]


def test_a_newcomer_near_a_track_that_just_crossed_does_not_cross_again_for_it() -> None:
    # Given track 1 missed on two frames, seen weakly on the left on two, then strongly beyond the
    # door (its crossing, counted), missed once more, and then a second person appears above it
    # on the right
    frames = [*walk(0.9, 0.30, 0.33, 0.36, 0.39, 0.42), [], [], *walk(0.3, 0.44, 0.46), *walk(0.9, 0.56), []]
    frames += [[(0.9, 0.56, FLOOR), (0.9, 0.62, 0.45)]] * 4
    # Then only track 1 crossed: the newcomer's past is not the weak sightings of track 1's object
    # from before track 1 crossed
    assert crossings(frames) == [(1, "in")]


def test_a_track_confirmed_at_once_keeps_its_object_through_a_short_miss_on_the_line() -> None:
    # Given frames 0.1 s apart: a person seen on every other frame, whose track is confirmed at once
    # on its traced path at x 0.40, then missed for 0.3 s while crossing the door
    frames = [*walk(0.9, 0.20), [], *walk(0.9, 0.30), [], *walk(0.9, 0.40), [], [], []]
    frames += walk(0.9, 0.60, 0.65, 0.70)
    # Then its track takes it beyond the door: one crossing, in, by the same track
    assert crossings(frames, step_s=0.1) == [(1, "in")]
