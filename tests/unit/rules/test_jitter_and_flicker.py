"""A detector's jitter at the edges the rules draw: a position wobbling across a counting line, a
box's bottom edge dipping out of a zone for a frame, a crowd one short for a frame.

Each is one real event: one crossing per real crossing, one loiter and one count event per stay,
not an alert per wobble or an event ended and started again mid-stay.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.domain import AlertEvent, AlertKind, Box
from gateway.rules.geometry import Line
from tests.unit.rules.test_track_rules import CROSSING, Frame, camera, run

FRAME_S = 0.2
"""5 fps."""
LOITER = {"name": "loitering", "type": "loiter", "zones": ["yard"], "min_s": 20, "end_after_s": 5}
CROWD = {"name": "crowd", "type": "count", "zones": ["yard"], "min_count": 2, "min_s": 10, "end_after_s": 5}
INSIDE, OUTSIDE = 0.8, 0.45
"""Bottom-centre y inside the yard (y >= 0.5) and just outside it."""


def kinds(events: Sequence[AlertEvent]) -> list[tuple[str, float]]:
    return [(event.kind.value, round(event.frame_ts, 1)) for event in events]


def test_a_position_wobbling_across_the_line_is_one_crossing() -> None:
    # Given a person who walks up to the door line, stands on it while the detector's box wobbles a
    # third of a pixel (of 1920) either side of it, then walks on through
    wobble = [0.4995, 0.5005] * 3
    frames: list[Frame] = [(0.0, [(1, 0.4, 0.5)])]
    frames += [(FRAME_S * (index + 1), [(1, x, 0.5)]) for index, x in enumerate([*wobble, 0.6])]
    # When the line-crossing rule judges it
    events = run(camera(CROSSING), frames)
    # Then it crossed once, inwards, when it left the line on the far side
    assert [
        (event.direction.value if event.direction else None, round(event.frame_ts, 1)) for event in events
    ] == [("in", 1.4)]


PERSON: Box = (0.45, 0.3, 0.55, 0.6)
"""A box 0.1 wide and 0.3 high (normalised): a person on a 16:9 frame."""


@pytest.mark.parametrize(
    ("line", "band"),
    [
        pytest.param(Line("door", (0.5, 0.0), (0.5, 1.0), (1.0, 0.0)), 0.005, id="upright: its width"),
        pytest.param(Line("kerb", (0.0, 0.6), (1.0, 0.6), (0.0, 1.0)), 0.015, id="level: its height"),
        pytest.param(Line("kerb", (1.0, 0.6), (0.0, 0.6), (0.0, 1.0)), 0.015, id="drawn the other way"),
    ],
)
def test_the_band_on_a_line_is_the_jitter_of_the_box_measured_square_to_the_line(
    line: Line, band: float
) -> None:
    assert line.band(PERSON) == pytest.approx(band)
    (x, y), normal = line.start, (line.end[1] - line.start[1], line.start[0] - line.end[0])
    length = (normal[0] ** 2 + normal[1] ** 2) ** 0.5
    # Just inside the band on either side is on the line; just beyond it is a side.
    for share, on_a_side in ((0.9, False), (1.1, True)):
        for sign in (1.0, -1.0):
            offset = sign * share * band / length
            point = (x + offset * normal[0], y + offset * normal[1])
            assert (line.side(point, line.band(PERSON)) != 0) is on_a_side


def test_a_wobble_beyond_the_detectors_jitter_is_still_a_crossing_each_way() -> None:
    # Given a person who steps a tenth of the frame over the line and back, twice
    frames: list[Frame] = [
        (FRAME_S * index, [(1, x, 0.5)]) for index, x in enumerate([0.4, 0.6, 0.4, 0.6, 0.4])
    ]
    # Then each real crossing counts
    events = run(camera(CROSSING), frames)
    assert [event.direction.value for event in events if event.direction] == ["in", "out", "in", "out"]


def test_a_loiterer_whose_box_dips_out_of_the_zone_for_a_frame_is_one_event() -> None:
    # Given a loiterer inside the yard for 80 s, whose box's bottom edge the detector puts just
    # outside it on one frame, 26 s in, after its loiter event started
    frames: list[Frame] = [(FRAME_S * index, [(1, 0.3, INSIDE)]) for index in range(400)]
    frames[130] = (FRAME_S * 130, [(1, 0.3, OUTSIDE)])
    # When the loiter rule judges it
    events = run(camera(LOITER), frames)
    # Then its one event started at 20 s and stays open: it never ended and started again
    assert kinds(events) == [("start", 20.0)]


def test_a_loiterer_who_leaves_for_longer_than_end_after_s_ends_its_event_and_waits_min_s_anew() -> None:
    # Given a loiterer who leaves the yard 26 s in for 6 s (longer than end_after_s) and comes back
    frames: list[Frame] = [
        (FRAME_S * index, [(1, 0.3, OUTSIDE if 130 <= index < 160 else INSIDE)]) for index in range(400)
    ]
    events = run(camera(LOITER), frames)
    # Then its event ended 5 s after its last frame inside, and the next started 20 s after it came
    # back (counted from halfway between its last frame outside and its first inside: 51.9 s)
    assert kinds(events) == [("start", 20.0), ("end", 30.8), ("start", 52.0)]


def test_a_crowd_one_short_for_a_frame_is_one_count_event() -> None:
    # Given two people in the yard for 80 s, one of whom the detector puts outside it on one frame
    frames: list[Frame] = [
        (FRAME_S * index, [(1, 0.3, INSIDE), (2, 0.6, OUTSIDE if index == 100 else INSIDE)])
        for index in range(400)
    ]
    # When the count rule judges it
    events = run(camera(CROWD), frames)
    # Then the crowd is one event from 10 s, still open
    assert [(kind, at) for kind, at in kinds(events) if kind != AlertKind.UPDATE.value] == [("start", 10.0)]


def test_a_crowd_short_for_longer_than_end_after_s_ends_and_waits_min_s_anew() -> None:
    # Given a crowd of two one short from 20 s for 6 s
    frames: list[Frame] = [
        (FRAME_S * index, [(1, 0.3, INSIDE), (2, 0.6, OUTSIDE if 100 <= index < 130 else INSIDE)])
        for index in range(400)
    ]
    events = run(camera(CROWD), frames)
    # Then its event ended 5 s after the last frame with two, and the next started min_s after they
    # were two again
    assert kinds(events) == [("start", 10.0), ("end", 24.8), ("start", 36.0)]
