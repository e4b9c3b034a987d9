"""An object lost (nothing seen of it for longer than ``max_lost_s``) on one side of a counting line
and found again, under a new track id, on the other: the crossing counts when it is unambiguous that
the new track is the lost one's object, once, and never when the lost track had crossed already.
The real tracker and the real rules, frames scripted (5 fps, default tracker spec)."""

from __future__ import annotations

from tests.unit.rules.test_crossing_new_tracks import FLOOR, LEFT, Seen, crossings, walk

NOTHING: list[list[Seen]] = [[]] * 8
"""1.6 s without a detection: longer than max_lost_s (1.0), so the track ends."""


def test_lost_on_the_near_side_and_found_beyond_with_nothing_seen_between_counts_once() -> None:
    # Given track 1 walking on the left of the door, then no detection at all for longer than
    # max_lost_s, then a strong detection beyond the door
    frames = [*LEFT, *NOTHING, *walk(0.9, 0.59, 0.62, 0.65, 0.68)]
    # Then the new track is judged from where track 1 was last seen: one crossing, in
    assert crossings(frames) == [(2, "in")]


def test_a_track_that_had_crossed_before_it_was_lost_is_not_counted_again_when_found() -> None:
    # Given track 1 crossing the door (counted), then lost beyond it and found further on
    frames = [*walk(0.9, 0.38, 0.42, 0.46, 0.52, 0.56), *NOTHING, *walk(0.9, 0.70, 0.73, 0.76)]
    # Then its crossing counts once: it was last seen beyond the door
    assert crossings(frames) == [(1, "in")]


def test_two_lost_on_the_near_side_and_one_found_beyond_counts_nothing() -> None:
    # Given two people on the left, both lost, and one person found beyond the door
    pair = [[(0.9, x, FLOOR), (0.9, x, 0.35)] for x in (0.20, 0.23, 0.26, 0.29, 0.32)]
    frames = [*pair, *NOTHING, *walk(0.9, 0.59, 0.62, 0.65, 0.68)]
    # Then which of them crossed is not known: nothing is counted
    assert crossings(frames) == []


def test_one_lost_and_two_found_beyond_counts_nothing() -> None:
    # Given one person lost on the left, and two people found beyond the door on the same frame
    found = [[(0.9, x, FLOOR), (0.9, x, 0.4)] for x in (0.59, 0.62, 0.65)]
    frames = [*LEFT, *NOTHING, *found]
    # Then which of them was the lost one is not known: nothing is counted
    assert crossings(frames) == []


def test_lost_at_the_frames_edge_it_walked_out_of_view_and_a_newcomer_beyond_counts_nothing() -> None:
    # Given track 1 walking out of the frame's left edge (its box reaches the edge), no detection for
    # 1.2 s (track 1 ends), then someone walking in beyond the door
    frames = [*walk(0.9, 0.20, 0.15, 0.10, 0.07, 0.05), *[[]] * 6, *walk(0.9, 0.59, 0.62, 0.65, 0.68)]
    # Then nobody crossed: track 1 left the view, it was not hidden on the line
    assert crossings(frames) == []


def test_a_box_cut_by_the_top_edge_did_not_walk_out_and_its_crossing_counts() -> None:
    # Given a person near the camera, their box's top at the frame's top edge (the head cut off), lost
    # on the left of the door and found beyond it
    near = 0.2  # the boxes are 0.2 high: their top is at 0.0
    frames = [
        *[[(0.9, x, near)] for x in (0.20, 0.23, 0.26)],
        *NOTHING,
        *[[(0.9, x, near)] for x in (0.59, 0.62)],
    ]
    # Then the crossing counts: feet inside the view walked out of nothing
    assert crossings(frames) == [(2, "in")]


def test_a_box_moving_up_out_by_the_top_edge_walked_out_and_a_newcomer_beyond_counts_nothing() -> None:
    # Given a person under a ceiling camera walking up the frame on the left of the door until their
    # box reaches the top edge, no detection for 1.6 s, then someone appearing beyond the door
    frames = [*[[(0.9, 0.30, y)] for y in (0.40, 0.33, 0.26, 0.20)], *NOTHING, *walk(0.9, 0.59, 0.62, 0.65)]
    # Then nobody crossed: the person left by the top of the view, not hidden on the line
    assert crossings(frames) == []


def test_the_window_runs_to_where_the_new_track_was_first_seen_not_to_its_confirmation() -> None:
    # Given frames 0.3 s apart: track 1 last seen on the left of the door, then nothing for 1.5 s,
    # then a person beyond the door, first seen 1.8 s after track 1 was last seen (inside twice
    # max_lost_s) and confirmed on the next frame, 2.1 s after (outside it)
    frames = [*LEFT, *[[]] * 5, *walk(0.9, 0.59, 0.62, 0.65, 0.68)]
    # Then the new track is judged from where track 1 was last seen: one crossing, in
    assert crossings(frames, step_s=0.3) == [(2, "in")]


def test_found_too_long_after_it_was_lost_counts_nothing() -> None:
    # Given nothing seen for 3 s, longer than twice max_lost_s
    frames = [*LEFT, *[[]] * 15, *walk(0.9, 0.59, 0.62, 0.65)]
    # Then the new track may be anyone: nothing is counted
    assert crossings(frames) == []


def test_found_again_on_the_near_side_the_lost_track_is_used_up() -> None:
    # Given track 1 lost on the left and found there again under track 2, and then someone else
    # appearing beyond the door while track 2 is still on the left
    back = walk(0.9, 0.30, 0.32, 0.34)
    frames = [*LEFT, *NOTHING, *back, *[[(0.9, 0.34, FLOOR), (0.9, 0.62, 0.45)]] * 3]
    # Then nobody crossed: track 1's object is track 2, on the left, not the newcomer
    assert crossings(frames) == []


def test_found_beyond_while_the_lost_track_is_still_kept_counts_nothing() -> None:
    # Given track 1 missed for 0.6 s on the left, then found beyond the door too far from where it
    # was for the tracker to take it back: a new track, confirmed while track 1 is still kept
    frames = [*LEFT, [], [], [], *walk(0.9, 0.59, 0.62, 0.65, 0.68, 0.71, 0.74, 0.77)]
    # Then nothing is counted (the decision): the tracker held the two for two objects at once, and
    # linking them once track 1 ended counted a crossing nobody made on the tracking benchmark
    assert crossings(frames) == []
