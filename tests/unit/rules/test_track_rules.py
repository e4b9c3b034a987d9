"""Table tests of the track rules: line crossing, loiter, count, stationary, zone edges and reloads.

Each case is a script of frames; a frame lists the tracks the camera's tracker reports on it as
``(track id, bottom-centre x, y)`` (observed) or ``(track id, x, y, False)`` (missing, still kept);
``(track id, x, y, True, score)`` gives the score of an observed track (else 0.9).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from gateway.config import CameraConfig
from gateway.domain import AlertEvent, AlertKind, Direction, EndReason, FrameResult, ModelRef, Track
from gateway.pipeline.specs import camera_rules
from gateway.rules.engine import RuleEngine

DETECTOR = ModelRef("person-detector", 1)
YARD = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
DOOR = {"name": "door", "points": [[0.5, 0.2], [0.5, 0.8]], "in_direction": [1, 0]}
HALF_WIDTH, HEIGHT = 0.05, 0.2

TrackAt = tuple[int, float, float] | tuple[int, float, float, bool] | tuple[int, float, float, bool, float]
Frame = tuple[float, Sequence[TrackAt]]


def camera(*rules: dict[str, Any]) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "gate",
            "url": "rtsp://127.0.0.1/stream",
            "model": "person-detector",
            "zones": [{"name": "yard", "polygon": YARD}],
            "lines": [DOOR],
            "rules": [{"labels": ["person"], "min_score": 0.5, "cooldown_s": 0, **rule} for rule in rules],
        }
    )


def track(spec: TrackAt) -> Track:
    track_id, x, y = spec[0], spec[1], spec[2]
    observed = spec[3] if len(spec) >= 4 else True
    score = spec[4] if len(spec) == 5 else 0.9
    return Track(track_id, "person", score, (x - HALF_WIDTH, y - HEIGHT, x + HALF_WIDTH, y), observed, 0.0)


def run(config: CameraConfig, frames: Sequence[Frame], engine: RuleEngine | None = None) -> list[AlertEvent]:
    engine = engine or RuleEngine([camera_rules(config)])
    events: list[AlertEvent] = []
    for index, (at, tracks) in enumerate(frames):
        events += engine.process(
            FrameResult("gate", index, at, DETECTOR, (), tracks=tuple(map(track, tracks)))
        )
    return events


def crossings(events: Sequence[AlertEvent]) -> list[tuple[int | None, str, float]]:
    assert all(event.kind is AlertKind.INSTANT for event in events)
    return [
        (event.track_id, event.direction.value if event.direction else "", event.frame_ts) for event in events
    ]


CROSSING = {"name": "entering", "type": "line_crossing", "line": "door"}


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        pytest.param(
            {}, [(0, [(1, 0.4, 0.5)]), (1, [(1, 0.6, 0.5)])], [(1, "in", 1)], id="left to right is in"
        ),
        pytest.param(
            {}, [(0, [(1, 0.6, 0.5)]), (1, [(1, 0.4, 0.5)])], [(1, "out", 1)], id="right to left is out"
        ),
        pytest.param(
            {},
            [(0, [(1, 0.4, 0.5)]), (1, [(1, 0.5, 0.5)]), (2, [(1, 0.6, 0.5)])],
            [(1, "in", 2)],
            id="crossing exactly on the line counts once, when it leaves the line",
        ),
        pytest.param(
            {},
            [(0, [(1, 0.4, 0.5)]), (1, [(1, 0.5, 0.5)]), (2, [(1, 0.4, 0.5)])],
            [],
            id="touching the line and turning back is no crossing",
        ),
        pytest.param(
            {},
            [(0, [(1, 0.4, 0.5), (2, 0.6, 0.4)]), (1, [(1, 0.6, 0.5), (2, 0.4, 0.4)])],
            [(1, "in", 1), (2, "out", 1)],
            id="two tracks crossing at once, both ways",
        ),
        pytest.param(
            {},
            [(0, [(1, 0.45, 0.5)]), (1, [(1, 0.45, 0.5, False)]), (2, [(1, 0.55, 0.5)])],
            [(1, "in", 2)],
            id="a track missing mid-crossing is counted when it shows again on the other side",
        ),
        pytest.param(
            {},
            [(0, [(1, 0.45, 0.5)]), (1, []), (2, [(2, 0.55, 0.5)])],
            [],
            id="a track dropped mid-crossing and a new one beyond: nothing is known to have crossed",
        ),
        pytest.param(
            {},
            [(0, [(1, 0.4, 0.9)]), (1, [(1, 0.6, 0.9)])],
            [],
            id="passing beside the segment, not across it, is no crossing",
        ),
        pytest.param(
            {},
            [(0, [(1, 0.4, 0.8)]), (1, [(1, 0.6, 0.8)])],
            [(1, "in", 1)],
            id="across the segment's end point counts",
        ),
        pytest.param({"direction": "out"}, [(0, [(1, 0.4, 0.5)]), (1, [(1, 0.6, 0.5)])], [], id="only out"),
        pytest.param(
            {},
            [(0, [(1, 0.4, 0.5)]), (1, [(1, 0.6, 0.5)]), (2, [(1, 0.4, 0.5)]), (3, [(1, 0.6, 0.5)])],
            [(1, "in", 1), (1, "out", 2), (1, "in", 3)],
            id="every crossing of one track is its own instant",
        ),
    ],
)
def test_line_crossing(rule: dict[str, Any], frames: Sequence[Frame], expected: list[Any]) -> None:
    events = run(camera({**CROSSING, **rule}), frames)
    assert crossings(events) == expected
    assert len({event.event_id for event in events}) == len(events)
    assert all(event.rule == "entering" and event.end_reason is None for event in events)


def test_a_crossing_alert_says_which_way_with_the_track_and_its_box() -> None:
    (event,) = run(camera(CROSSING), [(10.0, [(7, 0.45, 0.5)]), (10.2, [(7, 0.55, 0.5)])])
    assert (event.kind, event.direction, event.track_id, event.label) == (
        AlertKind.INSTANT,
        Direction.IN,
        7,
        "person",
    )
    assert event.box == pytest.approx((0.5, 0.3, 0.6, 0.5))
    assert event.event_id == "gate:entering:t7:10200"


def test_a_track_confirmed_past_the_line_crosses_from_its_origin() -> None:
    engine = RuleEngine([camera_rules(camera(CROSSING))])
    origin = (0.25, 0.3, 0.35, 0.5)  # bottom-centre (0.3, 0.5): left of the door
    first = Track(7, "person", 0.9, (0.55, 0.3, 0.65, 0.5), True, 10.0, origin)
    (event,) = engine.process(FrameResult("gate", 0, 10.0, DETECTOR, (), tracks=(first,)))
    assert (event.direction, event.track_id, event.frame_ts) == (Direction.IN, 7, 10.0)
    later = Track(7, "person", 0.9, (0.6, 0.3, 0.7, 0.5), True, 10.0, origin)
    assert engine.process(FrameResult("gate", 1, 10.2, DETECTOR, (), tracks=(later,))) == []


@pytest.mark.parametrize(("peak_score", "counted"), [(0.58, True), (0.45, False), (None, False)])
def test_a_track_that_scored_min_score_before_it_was_confirmed_is_followed_from_then(
    peak_score: float | None, counted: bool
) -> None:
    # Confirmed past the line scoring 0.42 (under min_score 0.5); its first, tentative frame scored
    # peak_score. A track that already scored min_score is the rule's object on its first frame.
    engine = RuleEngine([camera_rules(camera(CROSSING))])
    origin = (0.25, 0.3, 0.35, 0.5)
    first = Track(7, "person", 0.42, (0.55, 0.3, 0.65, 0.5), True, 10.0, origin, peak_score)
    events = engine.process(FrameResult("gate", 0, 10.0, DETECTOR, (), tracks=(first,)))
    assert [(event.direction, event.frame_ts) for event in events] == (
        [(Direction.IN, 10.0)] if counted else []
    )


def test_a_track_the_rule_meets_after_its_first_frame_is_judged_from_where_it_is() -> None:
    # A rule added on reload meets a track confirmed long before; the track's origin is its past.
    engine = RuleEngine([camera_rules(camera(CROSSING))])
    met = Track(7, "person", 0.9, (0.55, 0.3, 0.65, 0.5), True, 4.0, (0.25, 0.3, 0.35, 0.5))
    assert engine.process(FrameResult("gate", 0, 10.0, DETECTOR, (), tracks=(met,))) == []


def test_an_origin_on_the_line_is_no_side() -> None:
    engine = RuleEngine([camera_rules(camera(CROSSING))])
    on_line = Track(7, "person", 0.9, (0.55, 0.3, 0.65, 0.5), True, 10.0, (0.45, 0.3, 0.55, 0.5))
    assert engine.process(FrameResult("gate", 0, 10.0, DETECTOR, (), tracks=(on_line,))) == []


def summary(events: Sequence[AlertEvent]) -> list[tuple[str, int | None, float]]:
    return [(event.kind.value, event.track_id, event.frame_ts) for event in events]


LOITER = {"name": "loitering", "type": "loiter", "zones": ["yard"], "min_s": 10, "end_after_s": 2}


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        pytest.param(
            [(float(at), [(1, 0.5, 0.7)]) for at in range(0, 13)]
            + [(13.0, [(1, 0.5, 0.3)]), (15.0, [(1, 0.5, 0.3)])],
            [("start", 1, 10.0), ("end", 1, 15.0)],
            id="ten seconds inside starts it; leaving ends it after end_after_s",
        ),
        pytest.param(
            [(float(at), [(1, 0.5, 0.7)]) for at in range(0, 6)]
            + [(6.0, [(1, 0.5, 0.3)]), (7.0, [(1, 0.5, 0.3)])]
            + [(float(at), [(1, 0.5, 0.7)]) for at in range(8, 17)],
            [],
            id="stepping out for longer than the tracker forgives a miss (max_lost_s) restarts the clock",
        ),
        pytest.param(
            [(float(at), [(1, 0.5, 0.7, at not in (4, 5))]) for at in range(0, 11)],
            [("start", 1, 10.0)],
            id="frames the track is missing on are forgiven",
        ),
        pytest.param(
            [
                (float(at), [(1, 0.5, 0.7), (2, 0.2, 0.7)] if at < 5 else [(1, 0.5, 0.7)])
                for at in range(0, 11)
            ],
            [("start", 1, 10.0)],
            id="one track loitering, another passing by",
        ),
        pytest.param(
            [(0.0, [(1, 0.5, 0.3)])] + [(float(at), [(1, 0.5, 0.7)]) for at in range(2, 13)],
            [("start", 1, 11.0)],
            id="walking in counts from halfway between the last frame outside and the first inside",
        ),
        pytest.param(
            [(0.0, [(1, 0.5, 0.3)]), (1.0, [(1, 0.5, 0.3, False)]), (2.0, [(1, 0.5, 0.3, False)])]
            + [(float(at), [(1, 0.5, 0.7)]) for at in range(3, 14)],
            [("start", 1, 12.0)],
            id="walking in while missing counts from halfway through the miss",
        ),
    ],
)
def test_loiter(frames: Sequence[Frame], expected: list[Any]) -> None:
    assert summary(run(camera(LOITER), frames)) == expected


@pytest.mark.parametrize(
    ("origin", "origin_at", "start"),
    [
        pytest.param((0.45, 0.5, 0.55, 0.7), 7.0, 17.0, id="origin inside: from the origin's frame"),
        pytest.param((0.45, 0.1, 0.55, 0.3), 7.0, 20.0, id="origin outside: from the first frame"),
        pytest.param((0.45, 0.5, 0.55, 0.7), None, 20.0, id="origin's time unknown: from the first frame"),
    ],
)
def test_a_track_confirmed_inside_loiters_from_its_origin(
    origin: tuple[float, float, float, float], origin_at: float | None, start: float
) -> None:
    # Confirmed at 10 s inside the yard after the detector saw its object there, too weakly to
    # start a track, from origin_at on.
    engine = RuleEngine([camera_rules(camera(LOITER))])
    events: list[AlertEvent] = []
    for index, at in enumerate(range(10, 21)):
        inside = Track(7, "person", 0.9, (0.45, 0.5, 0.55, 0.7), True, 10.0, origin, 0.9, origin_at)
        events += engine.process(FrameResult("gate", index, float(at), DETECTOR, (), tracks=(inside,)))
    assert summary(events) == [("start", 7, start)]


COUNT = {"name": "crowd", "type": "count", "zones": ["yard"], "min_count": 3, "min_s": 2, "end_after_s": 1,
         "update_interval_s": 0}  # fmt: skip


def people(count: int, y: float = 0.7) -> list[TrackAt]:
    return [(index + 1, 0.1 + 0.1 * index, y) for index in range(count)]


def test_count_starts_after_min_s_updates_the_count_and_ends() -> None:
    frames: list[Frame] = [
        (0.0, people(2)),
        (1.0, people(3)),
        (2.0, people(3)),
        (3.0, people(3)),  # three for 2 s: start
        (4.0, people(4)),  # a fourth: update with the new count
        (5.0, people(4)),
        (6.0, people(2)),  # below for end_after_s since the last frame it held: end
    ]
    events = run(camera(COUNT), frames)
    assert [(event.kind.value, event.count, event.frame_ts) for event in events] == [
        ("start", 3, 3.0),
        ("update", 4, 4.0),
        ("end", 4, 6.0),  # the end reports the event's largest count
    ]
    assert all(event.track_id is None and event.zone == "yard" for event in events)


def test_count_includes_a_track_missing_for_a_moment_but_not_one_outside_the_zone() -> None:
    frames: list[Frame] = [(float(at), [*people(2), (9, 0.9, 0.7, at != 1)]) for at in range(4)]
    frames += [(4.0, [*people(2), (9, 0.9, 0.2)])]
    events = run(camera({**COUNT, "min_s": 1}), frames)
    # Three from 0 s, the third missing at 1 s: start at 1 s; the third walks out at 4 s: end.
    assert [(event.kind.value, event.count, event.frame_ts) for event in events] == [
        ("start", 3, 1.0),
        ("end", 3, 4.0),
    ]


STATIONARY = {"name": "parked", "type": "stationary", "zones": ["yard"], "min_s": 5, "end_after_s": 1}


def test_stationary_after_min_s_still_and_ends_when_it_moves() -> None:
    frames: list[Frame] = [(float(at), [(1, 0.5, 0.7)]) for at in range(0, 8)]
    frames += [(8.0, [(1, 0.7, 0.9)]), (9.0, [(1, 0.9, 0.9)])]
    assert summary(run(camera(STATIONARY), frames)) == [("start", 1, 5.0), ("end", 1, 8.0)]


def test_stationary_tolerates_jitter_but_not_slow_walking() -> None:
    jitter = [(float(at), [(1, 0.5 + 0.002 * (at % 2), 0.7)]) for at in range(0, 7)]
    walking = [(float(at), [(2, 0.1 + 0.03 * at, 0.7)]) for at in range(0, 7)]
    assert summary(run(camera(STATIONARY), jitter)) == [("start", 1, 5.0)]
    assert run(camera(STATIONARY), walking) == []


PRESENCE = {"name": "intrusion", "zones": ["yard"], "min_frames": 1, "end_after_s": 1}


@pytest.mark.parametrize(
    ("y", "inside"),
    [(0.5, True), (0.5 - 1e-9, False), (1.0, True)],
    ids=["on the zone's edge", "just above it", "on the frame's bottom edge"],
)
def test_a_zone_edge_counts_as_inside(y: float, inside: bool) -> None:
    events = run(camera(PRESENCE), [(0.0, [(1, 0.5, y)])])
    assert [event.kind for event in events] == ([AlertKind.START] if inside else [])


def test_a_rule_removed_on_reload_ends_its_events_and_a_kept_one_goes_on() -> None:
    config = camera(PRESENCE, LOITER)
    engine = RuleEngine([camera_rules(config)])
    opened = run(config, [(float(at), [(1, 0.5, 0.7)]) for at in range(0, 11)], engine)
    assert [(event.rule, event.kind.value) for event in opened] == [
        ("intrusion", "start"),
        ("loitering", "start"),
    ]
    # When loitering is removed, its event ends with rule_changed; intrusion's stays open.
    ended = engine.reconfigure([camera_rules(camera(PRESENCE))], now=11.0)
    assert [(event.rule, event.kind, event.end_reason) for event in ended] == [
        ("loitering", AlertKind.END, EndReason.RULE_CHANGED)
    ]
    assert run(config, [(12.0, [(1, 0.5, 0.7)])], engine) == []
    # And the kept rule's state survived: the same track does not start a second event.
    assert engine.open_events() == 1


def test_a_reload_that_moves_the_line_forgets_sides_measured_against_the_old_one() -> None:
    config = camera(CROSSING)
    engine = RuleEngine([camera_rules(config)])
    assert run(config, [(0.0, [(1, 0.4, 0.5)])], engine) == []
    moved = camera(CROSSING).model_copy(
        update={"lines": [CameraConfig.model_validate({"id": "x", "url": "x", "lines": [
            {**DOOR, "points": [[0.7, 0.2], [0.7, 0.8]]}]}).lines[0]]}
    )  # fmt: skip
    engine.reconfigure([camera_rules(moved)], now=0.5)
    # 0.4 -> 0.6 crossed the old line, not the new one; then 0.6 -> 0.8 crosses the new one.
    assert run(moved, [(1.0, [(1, 0.6, 0.5)]), (2.0, [(1, 0.8, 0.5)])], engine)[0].frame_ts == 2.0


LOW = 0.45
"""Below the rules' min_score (0.5): what face-detector gives a face that turns or is partly hidden."""


def seen(track_id: int, x: float, y: float, score: float) -> TrackAt:
    return (track_id, x, y, True, score)


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        pytest.param(
            LOITER,
            [(float(at), [seen(1, 0.5, 0.7, LOW if at in (4, 5) else 0.9)]) for at in range(0, 11)],
            [("start", 1, 10.0)],
            id="loiter: a loiterer scoring low for a moment keeps its clock",
        ),
        pytest.param(
            {**COUNT, "min_s": 1},
            [(float(at), [*people(2), seen(9, 0.9, 0.7, 0.9 if at == 0 else LOW)]) for at in range(3)],
            [("start", None, 1.0)],
            id="count: a person scoring low for a moment stays in the count",
        ),
        pytest.param(
            STATIONARY,
            [(float(at), [seen(1, 0.5, 0.7, LOW if at == 5 else 0.9)]) for at in range(0, 7)],
            [("start", 1, 5.0)],
            id="stationary: still on a frame it scores low on",
        ),
        pytest.param(
            {**PRESENCE, "min_frames": 3},
            [
                (0.0, [seen(1, 0.5, 0.7, 0.9)]),
                (1.0, [seen(1, 0.5, 0.7, LOW)]),
                (2.0, [seen(1, 0.5, 0.7, 0.9)]),
            ],
            [("start", 1, 2.0)],
            id="presence: a low frame does not break the streak",
        ),
        pytest.param(
            CROSSING,
            [
                (0.0, [seen(1, 0.4, 0.5, 0.9)]),
                (1.0, [seen(1, 0.6, 0.5, LOW)]),
                (2.0, [seen(1, 0.7, 0.5, LOW)]),
            ],
            [("instant", 1, 1.0)],
            id="line crossing: counted on the frame it crosses on, however it scores there",
        ),
        pytest.param(
            LOITER,
            [(float(at), [seen(1, 0.5, 0.7, 0.9 if at == 4 else LOW)]) for at in range(0, 11)],
            [("start", 1, 10.0)],
            id="loiter: the time inside runs from entry, before the track scored min_score too",
        ),
        pytest.param(
            CROSSING,
            [
                (0.0, [seen(1, 0.4, 0.5, LOW)]),
                (1.0, [seen(1, 0.6, 0.5, LOW)]),
                (2.0, [seen(1, 0.7, 0.5, 0.9)]),
            ],
            [("instant", 1, 2.0)],
            id="line crossing: one made before the track scored min_score is counted when it does",
        ),
        pytest.param(
            CROSSING,
            [
                (0.0, [seen(1, 0.4, 0.5, LOW)]),
                (1.0, [seen(1, 0.6, 0.5, LOW)]),
                (2.0, [seen(1, 0.4, 0.5, 0.9)]),
            ],
            [],
            id="line crossing: crossing and coming back before then is nothing",
        ),
        pytest.param(
            LOITER,
            [(float(at), [seen(1, 0.5, 0.7, LOW)]) for at in range(0, 12)],
            [],
            id="loiter: a track that never reached min_score is not followed",
        ),
        pytest.param(
            CROSSING,
            [(0.0, [seen(1, 0.4, 0.5, LOW)]), (1.0, [seen(1, 0.6, 0.5, LOW)])],
            [],
            id="line crossing: nor counted",
        ),
        pytest.param(
            {**COUNT, "min_s": 0},
            [(0.0, [*people(2), seen(9, 0.9, 0.7, LOW)])],
            [],
            id="count: nor counted",
        ),
    ],
)
def test_a_track_is_followed_once_it_has_scored_min_score(
    rule: dict[str, Any], frames: Sequence[Frame], expected: list[Any]
) -> None:
    # A track of the rule's labels is the rule's object once it has scored min_score on some frame:
    # a lower score (a face turning, partly hidden) neither restarts its dwell nor drops it from a
    # count, and where it was before it qualified counts too.
    assert summary(run(camera(rule), frames)) == expected


def test_a_reload_that_raises_min_score_follows_each_track_anew() -> None:
    config = camera(LOITER)
    engine = RuleEngine([camera_rules(config)])
    assert run(config, [(0.0, [seen(1, 0.5, 0.7, 0.6)])], engine) == []
    stricter = camera({**LOITER, "min_score": 0.7})
    engine.reconfigure([camera_rules(stricter)], now=0.5)
    # Track 1 scored 0.6 before: under min_score 0.7 it is not followed until it scores 0.7, and then
    # its time inside runs from when it entered.
    frames = [(float(at), [seen(1, 0.5, 0.7, 0.6)]) for at in range(1, 14)]
    assert run(stricter, frames, engine) == []
    assert summary(run(stricter, [(14.0, [seen(1, 0.5, 0.7, 0.8)])], engine)) == [("start", 1, 14.0)]
