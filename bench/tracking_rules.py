"""Judging a clip's rule events (the alerts the gateway committed) against its rule truth.

Each truth item is matched to at most one event of its rule, one to one, nearest in time first:

- crossings (rule ``crossing``, ``line_crossing`` with direction ``any``): an ``instant`` alert of
  the same direction at most ``CROSSING_TOLERANCE_S`` from the truth's crossing. At detect_fps 5 a
  crossing shows on the first sampled frame past the line, up to 0.2 s after the truth's (10 fps),
  one frame more when the detector misses the face there: 0.5 s allows for both.
- loiter, count, stationary: a ``start`` alert at most ``START_TOLERANCE_S`` from the truth
  interval's start. The tracker numbers a track on its second frame (0.2 s) and the rules forgive
  misses up to the tracker's ``max_lost_s`` (1.0 s): 1.0 s.
- count: the event's count (the largest its alerts carried) equals the truth's largest.

A truth item with no event is ``missed``, unless it is ``optional`` (a stretch within one sampling
period of the rule's ``min_s``, ``bench/tracking_truth.py``); an event with no truth item ``extra``.
A rule is exact when nothing is missed or extra (and, for count, every value agrees); the targets
(DESIGN.md) are exact crossings by direction and exact loiter/count/stationary events. The
tolerances were set from the sampling and the tracker's knobs above, before any clip was scored.

Times are clip seconds (frame index / fps): an alert's ``frame_ts`` is the capture time of the frame
that fired it, which the benchmark maps back to that frame's position in the clip.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from bench.tracking_metrics import MATCH_IOU, Box, box_iou
from bench.tracking_truth import Interval, RuleTruth
from gateway.domain import AlertEvent, AlertKind

CROSSING_TOLERANCE_S = 0.5
START_TOLERANCE_S = 1.0
RULES = ("crossing", "loiter", "count", "stationary")
"""The benchmark camera's rule names (``bench/tracking_play.rules_config``)."""


@dataclass(frozen=True, slots=True)
class Happening:
    """A truth item or an event, reduced to what is matched on."""

    t: float
    """Clip seconds."""
    direction: str | None = None
    count: int | None = None
    mover: str | None = None
    """Truth: the mover; event: the mover its track followed most (diagnostics only)."""
    track_id: int | None = None
    optional: bool = False
    """Truth only: an event is allowed here, not required."""


@dataclass(frozen=True, slots=True)
class RuleScore:
    rule: str
    truth: int
    """Required truth items (optional ones are counted apart)."""
    events: int
    matched: int
    """Required truth items with their event."""
    missed: list[Happening] = field(default_factory=list)
    extra: list[Happening] = field(default_factory=list)
    wrong_count: list[tuple[int | None, int | None]] = field(default_factory=list)
    """count: (truth, event) of matched pairs whose values differ."""
    max_offset_s: float = 0.0
    """The largest |event - truth| time among the matched pairs."""
    truth_in: int = 0
    truth_out: int = 0
    events_in: int = 0
    events_out: int = 0
    optional: int = 0
    """Optional truth items (an event allowed, not required)."""
    optional_matched: int = 0

    @property
    def exact(self) -> bool:
        return not self.missed and not self.extra and not self.wrong_count

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "exact": self.exact}


def match(
    truth: Sequence[Happening], events: Sequence[Happening], tolerance_s: float
) -> tuple[list[tuple[Happening, Happening]], list[Happening], list[Happening]]:
    """One-to-one pairs within ``tolerance_s`` (same direction), nearest first; then the unmatched
    truth items and events."""
    candidates = sorted(
        (abs(event.t - item.t), first, second)
        for first, item in enumerate(truth)
        for second, event in enumerate(events)
        if abs(event.t - item.t) <= tolerance_s and event.direction == item.direction
    )
    used_truth: set[int] = set()
    used_events: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, first, second in candidates:
        if first in used_truth or second in used_events:
            continue
        used_truth.add(first)
        used_events.add(second)
        pairs.append((first, second))
    pairs.sort()
    return (
        [(truth[first], events[second]) for first, second in pairs],
        [item for index, item in enumerate(truth) if index not in used_truth],
        [event for index, event in enumerate(events) if index not in used_events],
    )


def _score(
    rule: str, truth: Sequence[Happening], events: Sequence[Happening], tolerance_s: float
) -> RuleScore:
    pairs, missed, extra = match(truth, events, tolerance_s)
    wrong = [(item.count, event.count) for item, event in pairs if item.count != event.count]
    return RuleScore(
        rule=rule,
        truth=sum(1 for item in truth if not item.optional),
        events=len(events),
        matched=sum(1 for item, _ in pairs if not item.optional),
        missed=[item for item in missed if not item.optional],
        extra=extra,
        wrong_count=wrong,
        max_offset_s=max((abs(event.t - item.t) for item, event in pairs), default=0.0),
        truth_in=sum(1 for item in truth if item.direction == "in"),
        truth_out=sum(1 for item in truth if item.direction == "out"),
        events_in=sum(1 for event in events if event.direction == "in"),
        events_out=sum(1 for event in events if event.direction == "out"),
        optional=sum(1 for item in truth if item.optional),
        optional_matched=sum(1 for item, _ in pairs if item.optional),
    )


def _interval(interval: Interval, with_count: bool) -> Happening:
    return Happening(
        interval.start_s,
        count=interval.max_count if with_count else None,
        mover=interval.mover,
        optional=interval.optional,
    )


def judge(
    truth: RuleTruth,
    events: Sequence[AlertEvent],
    clip_time: Callable[[float], float],
    movers: Mapping[int, str],
) -> dict[str, RuleScore]:
    """Each rule's score. ``clip_time`` maps a capture time to clip seconds; ``movers`` names the
    mover each track followed most."""
    largest: Counter[str] = Counter()
    for event in events:
        if event.count is not None:
            largest[event.event_id] = max(largest[event.event_id], event.count)

    def happening(event: AlertEvent) -> Happening:
        return Happening(
            clip_time(event.frame_ts),
            event.direction.value if event.direction is not None else None,
            largest.get(event.event_id) if event.rule == "count" else None,
            movers.get(event.track_id) if event.track_id is not None else None,
            event.track_id,
        )

    # A crossing rule fires instants only; anything else of it has no direction and stays extra.
    crossing_events = [happening(event) for event in events if event.rule == "crossing"]
    crossings = [
        Happening(crossing.t, crossing.direction, mover=crossing.mover) for crossing in truth.crossings
    ]
    starts = {
        rule: [happening(event) for event in events if event.rule == rule and event.kind is AlertKind.START]
        for rule in RULES[1:]
    }
    intervals = {"loiter": truth.loiter, "count": truth.count, "stationary": truth.stationary}
    scores = {"crossing": _score("crossing", crossings, crossing_events, CROSSING_TOLERANCE_S)}
    for rule, items in intervals.items():
        expected = [_interval(item, rule == "count") for item in items]
        scores[rule] = _score(rule, expected, starts[rule], START_TOLERANCE_S)
    return scores


def owners(frames: Iterable[tuple[Sequence[tuple[str, Box]], Sequence[tuple[int, Box]]]]) -> dict[int, str]:
    """The mover each track overlapped (IoU >= ``MATCH_IOU``) on most frames. ``frames``: per judged
    frame, the truth's (mover, box) and the tracks' (track id, box)."""
    votes: dict[int, Counter[str]] = {}
    for truth, tracked in frames:
        for track_id, box in tracked:
            overlap, mover = max(((box_iou(box, other), name) for name, other in truth), default=(0.0, ""))
            if overlap >= MATCH_IOU:
                votes.setdefault(track_id, Counter())[mover] += 1
    return {track_id: counter.most_common(1)[0][0] for track_id, counter in votes.items()}
