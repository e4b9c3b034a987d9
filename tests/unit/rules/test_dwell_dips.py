"""A loiterer whose position dips out of the zone for a moment (its box's bottom edge at the zone's
edge, the detector's jitter) before its stay reached ``min_s``: the stay goes on, as it does after
``min_s``, when the time outside was no longer than the tracker forgives a miss (``max_lost_s``,
counted from the first frame outside, as the tracker counts a miss); a longer time outside is a
new stay. (After ``min_s`` a stay rides out ``end_after_s``, as its open event does.) The same
for a crowd (count) one short for a moment before its ``min_s``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from gateway.pipeline.specs import camera_rules
from gateway.rules.engine import RuleEngine
from gateway.rules.specs import CameraRules
from tests.unit.rules.test_track_rules import COUNT, LOITER, Frame, camera, people, run, summary

STEP = 0.5
"""Seconds between frames (2 fps); LOITER has min_s 10 and end_after_s 2, the tracker's
max_lost_s is its default, 1 s."""


def frames(outside: set[float], until: float = 16.0) -> list[Frame]:
    """The track at the yard's middle every STEP seconds from 0, above the yard at ``outside``."""
    times = [index * STEP for index in range(round(until / STEP) + 1)]
    return [(at, [(1, 0.5, 0.3 if at in outside else 0.7)]) for at in times]


@pytest.mark.parametrize(
    ("outside", "expected"),
    [
        pytest.param(set[float](), [("start", 1, 10.0)], id="no dip"),
        pytest.param({5.5}, [("start", 1, 10.0)], id="one frame out before min_s keeps the clock"),
        pytest.param({2.0, 2.5, 7.0}, [("start", 1, 10.0)], id="two short dips before min_s keep it"),
        pytest.param({9.5, 10.0}, [("start", 1, 10.5)], id="a dip as min_s passes: held when back"),
        pytest.param(
            {4.5, 5.0, 5.5},
            [("start", 1, 16.0)],  # from halfway back in (5.75)
            id="out for longer than max_lost_s (4.5 to 6.0) is a new stay, though within end_after_s",
        ),
        pytest.param(
            {4.5, 5.0, 5.5, 6.0},
            [("start", 1, 16.5)],
            id="out for end_after_s (4.0 to 6.5 unseen inside) is a new stay, from halfway back in (6.25)",
        ),
        pytest.param({12.0}, [("start", 1, 10.0)], id="one frame out after min_s, as before"),
    ],
)
def test_a_short_dip_out_of_the_zone_does_not_restart_the_stay(
    outside: set[float], expected: Sequence[tuple[str, int, float]]
) -> None:
    assert summary(run(camera(LOITER), frames(outside, until=17.0))) == expected


def test_the_dip_forgiven_before_min_s_is_the_tracker_s_max_lost_s() -> None:
    # Given the camera's tracker keeps a lost track for 2 s rather than 1 s
    (loiter,) = camera_rules(camera(LOITER)).rules
    engine = RuleEngine([CameraRules("gate", (replace(loiter, max_lost_s=2.0),))])
    # Then a loiterer 1.5 s outside before min_s keeps its clock
    assert summary(run(camera(LOITER), frames({4.5, 5.0, 5.5}, until=17.0), engine)) == [("start", 1, 10.0)]


def test_a_crowd_one_short_for_a_moment_before_min_s_keeps_its_clock() -> None:
    # Given three people in the yard (min_count 3, min_s 2), one of them over its edge on one frame
    # (the 1.0 s one) and then, later, two frames (1.5 s outside by the time it is back)
    def crowd(outside: set[float], until: float) -> list[Frame]:
        times = [index * STEP for index in range(round(until / STEP) + 1)]
        return [(at, [*people(2), (3, 0.5, 0.3 if at in outside else 0.7)]) for at in times]

    # Then the dip is forgiven: the crowd has lasted 2 s at 2.0 s
    assert summary(run(camera(COUNT), crowd({1.0}, 3.0))) == [("start", None, 2.0)]
    # And a break longer than max_lost_s (1 s) is a new stretch, from when they are back (2.0 s)
    assert summary(run(camera(COUNT), crowd({0.5, 1.0, 1.5}, 5.0))) == [("start", None, 4.0)]
