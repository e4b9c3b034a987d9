"""Judging the benchmark's rule events against its truth: one-to-one matching in time and direction,
misses, extras and the count's value, on worked examples."""

from __future__ import annotations

import pytest

from bench.tracking_rules import judge
from bench.tracking_truth import Crossing, Interval, RuleTruth, qualifies
from gateway.domain import AlertEvent, AlertKind, Direction, ModelRef

MODEL = ModelRef("face-detector", 1)


def event(
    rule: str, kind: AlertKind, t: float, *, track: int | None = 1, event_id: str = "", **fields: object
) -> AlertEvent:
    return AlertEvent(
        event_id=event_id or f"{rule}:{track}:{t}",
        kind=kind,
        camera_id="clip",
        rule=rule,
        label="FACE_FEMALE",
        score=0.9,
        zone=None,
        box=None,
        frame_ts=t,
        model=MODEL,
        track_id=track,
        **fields,  # type: ignore[arg-type]
    )


def crossing(t: float, direction: Direction, track: int = 1) -> AlertEvent:
    return event("crossing", AlertKind.INSTANT, t, track=track, direction=direction)


def truth(**fields: object) -> RuleTruth:
    empty: dict[str, object] = {"crossings": (), "loiter": (), "count": (), "stationary": ()}
    return RuleTruth(**{**empty, **fields})  # type: ignore[arg-type]


def test_crossings_match_by_direction_within_the_tolerance() -> None:
    expected = truth(
        crossings=(Crossing("a", 2.0, "in"), Crossing("b", 5.0, "out"), Crossing("c", 9.0, "in"))
    )
    events = [
        crossing(2.3, Direction.IN),  # 0.3 s late: matched
        crossing(5.1, Direction.IN),  # the wrong way: b missed, this extra
        crossing(9.6, Direction.IN, track=3),  # 0.6 s late, past the 0.5 s tolerance: c missed, this extra
    ]
    score = judge(expected, events, lambda t: t, {1: "a", 3: "c"})["crossing"]
    assert (score.truth, score.events, score.matched) == (3, 3, 1)
    assert [(item.t, item.direction) for item in score.missed] == [(5.0, "out"), (9.0, "in")]
    assert [(item.t, item.mover) for item in score.extra] == [(5.1, "a"), (9.6, "c")]
    assert (score.truth_in, score.truth_out, score.events_in, score.events_out) == (2, 1, 3, 0)
    assert score.max_offset_s == pytest.approx(0.3)
    assert not score.exact


def test_matching_is_one_to_one_nearest_first() -> None:
    expected = truth(crossings=(Crossing("a", 1.0, "in"), Crossing("b", 1.4, "in")))
    events = [crossing(1.3, Direction.IN), crossing(1.45, Direction.IN, track=2)]
    score = judge(expected, events, lambda t: t, {})["crossing"]
    # 1.45 goes to 1.4 (nearest), which leaves 1.3 for 1.0: both matched.
    assert (score.matched, score.missed, score.extra, score.exact) == (2, [], [], True)


def test_interval_rules_match_starts_and_the_count_carries_its_largest_value() -> None:
    expected = truth(
        loiter=(Interval(12.0, 20.0, "a"),),
        count=(Interval(11.0, 19.0, None, 5),),
        stationary=(Interval(6.0, 17.0, "a"),),
    )
    events = [
        event("loiter", AlertKind.START, 12.8),
        event("loiter", AlertKind.END, 25.0),  # ends are not matched
        event("count", AlertKind.START, 11.2, track=None, event_id="crowd", count=4),
        event("count", AlertKind.UPDATE, 13.0, track=None, event_id="crowd", count=5),
        event("stationary", AlertKind.START, 7.5),  # 1.5 s late: missed and extra
    ]
    scores = judge(expected, events, lambda t: t, {1: "a"})
    assert (scores["loiter"].matched, scores["loiter"].exact) == (1, True)
    assert (scores["count"].matched, scores["count"].wrong_count, scores["count"].exact) == (1, [], True)
    assert (len(scores["stationary"].missed), len(scores["stationary"].extra)) == (1, 1)


def test_a_count_that_never_reached_the_truths_largest_is_wrong() -> None:
    expected = truth(count=(Interval(11.0, 19.0, None, 5),))
    events = [event("count", AlertKind.START, 11.2, track=None, event_id="crowd", count=4)]
    score = judge(expected, events, lambda t: t, {})["count"]
    assert (score.matched, score.wrong_count, score.exact) == (1, [(5, 4)], False)


def test_an_optional_truth_item_is_neither_missed_when_absent_nor_extra_when_present() -> None:
    # A loiter stretch within one sampling period of min_s: the gateway may or may not raise it.
    expected = truth(loiter=(Interval(12.0, 12.0, "a", optional=True), Interval(30.0, 35.0, "b")))
    without = judge(expected, [event("loiter", AlertKind.START, 30.2)], lambda t: t, {})["loiter"]
    assert (without.truth, without.matched, without.optional, without.optional_matched) == (1, 1, 1, 0)
    assert without.exact
    both = [event("loiter", AlertKind.START, 12.1), event("loiter", AlertKind.START, 30.2)]
    with_it = judge(expected, both, lambda t: t, {})["loiter"]
    assert (with_it.matched, with_it.optional_matched, with_it.extra, with_it.exact) == (1, 1, [], True)
    # A required item is still missed when absent.
    missing = judge(expected, [], lambda t: t, {})["loiter"]
    assert (len(missing.missed), missing.exact) == (1, False)


@pytest.mark.parametrize(
    ("length_s", "verdict"),
    [
        (8.5, (True, False)),  # clearly long enough: required
        (8.1, (True, True)),  # within one 0.2 s sampling period either way: optional
        (8.0, (True, True)),
        (7.9, (True, True)),
        (7.7, (False, False)),  # clearly too short: none
    ],
)
def test_a_stretch_near_min_s_makes_its_event_optional(length_s: float, verdict: tuple[bool, bool]) -> None:
    assert qualifies(length_s, 8.0, 0.2) == verdict
