"""A camera's tracked objects' paths: the bottom centres of their boxes, newest last, bounded."""

from __future__ import annotations

from gateway.domain import Detection
from gateway.ingest.trails import Trails


def person(track_id: int | None, x: float, y: float) -> Detection:
    """A box 0.1 wide whose bottom centre is (x, y)."""
    return Detection("person", 0.9, (x - 0.05, y - 0.2, x + 0.05, y), track_id=track_id)


def test_a_tracked_object_leaves_the_path_of_its_bottom_centre() -> None:
    trails = Trails()
    for step in range(3):
        trails.add([person(7, 0.2 + 0.1 * step, 0.8)])

    [path] = trails.paths([person(7, 0.4, 0.8)])
    assert [(round(x, 6), y) for x, y in path] == [(0.2, 0.8), (0.3, 0.8), (0.4, 0.8)]


def test_an_object_seen_once_an_untracked_one_and_a_frame_level_result_have_no_path() -> None:
    trails = Trails()
    scene = Detection("scene_anomaly", 0.9, None)
    untracked = person(None, 0.5, 0.5)
    trails.add([person(1, 0.1, 0.9), untracked, scene])
    trails.add([person(1, 0.1, 0.9), untracked, scene])
    trails.add([person(2, 0.6, 0.9)])

    assert trails.paths([person(2, 0.6, 0.9), untracked, scene]) == []


def test_only_the_objects_asked_for_are_drawn_and_each_keeps_its_own_path() -> None:
    trails = Trails()
    trails.add([person(1, 0.1, 0.9), person(2, 0.9, 0.9)])
    trails.add([person(1, 0.2, 0.9), person(2, 0.8, 0.9)])

    [path] = trails.paths([person(2, 0.8, 0.9)])
    assert [x for x, _ in path] == [0.9, 0.8]


def test_a_path_holds_only_its_newest_positions() -> None:
    trails = Trails(length=4)
    for step in range(10):
        trails.add([person(3, step / 10, 0.5)])

    [path] = trails.paths([person(3, 0.9, 0.5)])
    assert [round(x, 6) for x, _ in path] == [0.6, 0.7, 0.8, 0.9]


def test_an_object_gone_for_longer_than_the_bound_is_let_go_and_one_back_sooner_keeps_its_path() -> None:
    trails = Trails(forget_after=3)
    trails.add([person(1, 0.1, 0.5), person(2, 0.5, 0.5)])
    trails.add([person(1, 0.2, 0.5), person(2, 0.6, 0.5)])
    for _ in range(3):
        trails.add([person(2, 0.6, 0.5)])
    # Track 1 missed three results: still held. One more and it is let go.
    assert len(trails.paths([person(1, 0.3, 0.5)])) == 1
    trails.add([person(2, 0.6, 0.5)])
    trails.add([person(1, 0.3, 0.5)])

    assert trails.paths([person(1, 0.3, 0.5)]) == []
    assert len(trails.paths([person(2, 0.6, 0.5)])) == 1
