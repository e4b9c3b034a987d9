"""The alert decider with a hand-written sink: pairing across reloads, restarts and stops; commit
failures held, not dropped; a full inbox counted; results judged in time order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import pytest
from prometheus_client import CollectorRegistry

from gateway.decider import AlertDecider
from gateway.domain import (
    Alert,
    AlertEvent,
    AlertKind,
    Detection,
    EndReason,
    FrameResult,
    ModelRef,
)
from gateway.errors import OutboxError
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import TrackerSpec

DETECTOR = ModelRef("detector", 1)
YARD = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
PERSON = Detection("person", 0.9, (0.4, 0.4, 0.6, 0.8))
# The camera's real tracker, confirming a track on its first frame so each script stays short.
TRACKERS = {"gate": TrackerSpec(confirm_hits=1)}
TIMING = EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=5.0, max_event_s=300.0)


def rule(name: str = "intrusion", labels: frozenset[str] = frozenset({"person"})) -> RuleSpec:
    return RuleSpec(name, RuleType.PRESENCE, "detector", labels, (YARD,), 0.5, 1, TIMING)


def cameras(*rules: RuleSpec) -> list[CameraRules]:
    return [CameraRules("gate", rules)]


def result(at: float, *detections: Detection) -> FrameResult:
    return FrameResult("gate", round(at * 10), at, DETECTOR, detections)


class FakeSink:
    """The outbox's contract in memory: seqs in commit order, open events, and a switch that makes
    commits wait (a disk that refuses) the way the real outbox retries."""

    def __init__(self, leftovers: Sequence[AlertEvent] = (), capacity: int = 1000) -> None:
        self.committed: list[Alert] = []
        self.images: list[bytes | None] = []
        """The evidence bytes handed over with each alert, in the order appended."""
        self.leftovers = list(leftovers)
        self.refusing = False
        self.capacity = capacity
        self.blocked = False
        self._waiting: list[tuple[Sequence[AlertEvent], Future[list[Alert]]]] = []
        self._space = threading.Condition()

    def append_async(
        self, events: Sequence[AlertEvent], evidence: Sequence[bytes | None] = ()
    ) -> Future[list[Alert]]:
        self.images += [evidence[index] if evidence else None for index in range(len(events))]
        future: Future[list[Alert]] = Future()
        with self._space:
            while sum(len(batch) for batch, _ in self._waiting) >= self.capacity:
                self.blocked = True
                self._space.wait()
            self.blocked = False
            self._waiting.append((list(events), future))
            if not self.refusing:
                self._commit_waiting()
        return future

    def space_returns(self) -> None:
        with self._space:
            self.refusing = False
            self._commit_waiting()
            self._space.notify_all()

    def _commit_waiting(self) -> None:
        for events, future in self._waiting:
            alerts = []
            for event in events:
                seq = len(self.committed) + 1
                alerts.append(Alert("device", seq, event, "0" * 64, "0" * 64, "0" * 64))
                self.committed.append(alerts[-1])
            future.set_result(alerts)
        self._waiting.clear()

    def open_events(self) -> list[AlertEvent]:
        return list(self.leftovers)

    def commit_failure(self) -> tuple[float, str] | None:
        return (0.0, "disk full") if self.refusing else None

    def kinds(self) -> list[tuple[str, str, str | None]]:
        return [
            (
                alert.event.kind.value,
                alert.event.rule,
                alert.event.end_reason and alert.event.end_reason.value,
            )
            for alert in self.committed
        ]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def decider_for(
    sink: FakeSink,
    rules: Sequence[CameraRules],
    clock: Clock,
    announced: list[Alert] | None = None,
) -> AlertDecider:
    announce: Callable[[Alert], None] = (announced if announced is not None else []).append
    return AlertDecider(
        sink, rules, announce=announce, registry=CollectorRegistry(), clock=clock, trackers=TRACKERS
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_results_become_announced_alerts_in_seq_order(clock: Clock) -> None:
    sink, announced = FakeSink(), list[Alert]()
    decider = decider_for(sink, cameras(rule()), clock, announced)
    decider.start()
    decider.submit(result(1.0, PERSON))
    assert wait_until(lambda: len(announced) == 1)
    assert announced[0].event.kind is AlertKind.START
    assert decider.stop(5.0)
    # Stopping ends what is open: every start has its end.
    assert sink.kinds() == [("start", "intrusion", None), ("end", "intrusion", "stopped")]
    assert [alert.seq for alert in announced] == [1, 2]


def test_a_reload_hands_open_events_to_a_surviving_rule(clock: Clock) -> None:
    sink = FakeSink()
    decider = decider_for(sink, cameras(rule("intrusion"), rule("gone")), clock)
    decider.start()
    decider.submit(result(1.0, PERSON))
    assert wait_until(lambda: len(sink.committed) == 2)
    # When: the rule "gone" is removed and "intrusion" changes its labels but keeps name and type.
    changed = rule("intrusion", frozenset({"person", "car"}))
    assert decider.reload(cameras(changed)).result(5) == 1
    # Then: "gone" ended with rule_changed; "intrusion" did not start a second event.
    decider.submit(result(2.0, PERSON))
    assert decider.stop(5.0)
    assert sink.kinds() == [
        ("start", "intrusion", None),
        ("start", "gone", None),
        ("end", "gone", "rule_changed"),
        ("end", "intrusion", "stopped"),
    ]
    starts = [alert.event.event_id for alert in sink.committed if alert.event.kind is AlertKind.START]
    ends = [alert.event.event_id for alert in sink.committed if alert.event.kind is AlertKind.END]
    assert sorted(starts) == sorted(ends)


def test_a_rule_whose_type_changed_ends_its_event(clock: Clock) -> None:
    sink = FakeSink()
    decider = decider_for(sink, cameras(rule()), clock)
    decider.start()
    decider.submit(result(1.0, PERSON))
    assert wait_until(lambda: len(sink.committed) == 1)
    anomaly = RuleSpec("intrusion", RuleType.ANOMALY, "scene", frozenset({"anomaly"}), (), 0.0, 1, TIMING)
    assert decider.reload(cameras(anomaly)).result(5) == 1
    assert decider.stop(5.0)
    assert sink.kinds() == [("start", "intrusion", None), ("end", "intrusion", "rule_changed")]


@pytest.mark.parametrize("restarted_at", [500.0, 42.0], ids=["after-an-outage", "clock-behind"])
def test_events_left_open_by_a_killed_run_are_ended_before_anything_is_decided(
    clock: Clock, restarted_at: float
) -> None:
    clock.now = restarted_at
    leftover = AlertEvent(
        "gate:intrusion:100000", AlertKind.UPDATE, "gate", "intrusion", "person", 0.8, "yard",
        (0.1, 0.1, 0.2, 0.2), 100.0, DETECTOR, track_id=7,
    )  # fmt: skip
    sink = FakeSink(leftovers=[leftover])
    decider = decider_for(sink, cameras(rule()), clock)
    decider.start()
    # The recovered end is committed during start, before the first result.
    (end,) = sink.committed
    assert (end.event.kind, end.event.end_reason, end.event.event_id) == (
        AlertKind.END,
        EndReason.RECOVERED,
        "gate:intrusion:100000",
    )
    # Dated at the last the killed run knew of it: not through the outage, nor before it began
    assert (end.event.frame_ts, end.event.track_id, end.event.label) == (100.0, 7, "person")
    decider.submit(result(restarted_at + 1.0, PERSON))
    assert decider.stop(5.0)
    assert sink.kinds()[1:] == [("start", "intrusion", None), ("end", "intrusion", "stopped")]


def test_commits_refused_by_the_disk_are_held_and_named_then_committed_in_order(clock: Clock) -> None:
    sink, announced = FakeSink(), list[Alert]()
    decider = decider_for(sink, cameras(rule()), clock, announced)
    decider.start()
    sink.refusing = True
    # Given a disk that refuses: the rules go on deciding (start, then end after end_after_s).
    decider.submit(result(1.0, PERSON))
    decider.submit(result(7.0))
    assert wait_until(lambda: decider.held == 2)
    (problem,) = decider.health_problems()
    assert "outbox cannot commit" in problem
    assert "disk full" in problem
    assert "2 alerts held in memory, none dropped" in problem
    assert announced == []
    # When space returns, everything decided meanwhile is committed in the order it was decided.
    sink.space_returns()
    assert wait_until(lambda: len(announced) == 2)
    assert decider.health_problems() == []
    assert [alert.event.kind for alert in announced] == [AlertKind.START, AlertKind.END]
    assert decider.stop(5.0)


def test_a_full_sink_stops_the_decider_and_a_full_inbox_drops_results_counted(clock: Clock) -> None:
    registry = CollectorRegistry()
    sink = FakeSink(capacity=1)
    sink.refusing = True
    rules = cameras(
        RuleSpec("a", RuleType.PRESENCE, "detector", frozenset(), (), 0.0, 1,
                 EventTiming(cooldown_s=0.0, end_after_s=0.0)),
    )  # fmt: skip
    decider = AlertDecider(
        sink,
        rules,
        announce=lambda _a: None,
        registry=registry,
        clock=clock,
        inbox_capacity=3,
        trackers=TRACKERS,
    )
    decider.start()
    # The first start fills the sink; the decider then waits on the sink with the next alert (both
    # decided, neither durable: two held)...
    decider.submit(result(1.0, PERSON))
    decider.submit(result(2.0))
    assert wait_until(lambda: decider.held == 2 and sink.blocked)
    # ... so results pile up in the bounded inbox, and the ones beyond it are dropped and counted.
    for at in range(3, 10):
        decider.submit(result(float(at), PERSON))
    dropped = registry.get_sample_value(
        "edge_gateway_decider_results_dropped_total", {"reason": "inbox_full"}
    )
    assert dropped == 4
    sink.space_returns()
    assert decider.stop(5.0)
    assert sink.kinds()[:2] == [("start", "a", None), ("end", "a", "cleared")]


def test_a_late_result_is_dropped_rather_than_judged_out_of_order(clock: Clock) -> None:
    registry = CollectorRegistry()
    sink = FakeSink()
    decider = AlertDecider(
        sink, cameras(rule()), announce=lambda _a: None, registry=registry, clock=clock, trackers=TRACKERS
    )
    decider.start()
    decider.submit(result(2.0))
    decider.submit(result(1.0, PERSON))  # completed after a newer frame of the same camera and model
    assert decider.stop(5.0)
    assert sink.committed == []
    assert registry.get_sample_value("edge_gateway_decider_results_dropped_total", {"reason": "late"}) == 1


def test_a_closed_sink_is_reported_not_hidden(clock: Clock) -> None:
    class ClosedSink(FakeSink):
        def append_async(
            self, events: Sequence[AlertEvent], evidence: Sequence[bytes | None] = ()
        ) -> Future[list[Alert]]:
            raise OutboxError("outbox closed")

    decider = decider_for(ClosedSink(), cameras(rule()), clock)
    decider.start()
    decider.submit(result(1.0, PERSON))
    assert decider.stop(5.0)


def test_the_tracker_runs_on_the_detector_of_cameras_with_track_rules_and_its_ids_are_shown(
    clock: Clock,
) -> None:
    shown: list[tuple[str, tuple[Detection, ...]]] = []
    sink = FakeSink()
    clock.now = 1000.0
    decider = AlertDecider(
        sink,
        cameras(rule()),
        announce=lambda _a: None,
        registry=CollectorRegistry(),
        clock=clock,
        trackers=TRACKERS,
        show=lambda camera_id, detections: shown.append((camera_id, detections)),
    )
    decider.start()
    decider.submit(result(1.0, PERSON))
    decider.submit(result(1.2, Detection("person", 0.9, (0.41, 0.4, 0.61, 0.8))))
    # A model no track rule judges (the anomaly model) is not tracked.
    decider.submit(FrameResult("gate", 13, 1.3, ModelRef("scene", 1), (Detection("anomaly", 0.9, None),)))
    assert decider.stop(5.0)
    assert [camera_id for camera_id, _ in shown] == ["gate", "gate"]
    first, second = (detections[0].track_id for _, detections in shown)
    # One object, one id; ids start from the clock in milliseconds so a restart never reuses one.
    assert first == second == 1_000_000
    (start,) = [alert.event for alert in sink.committed if alert.event.kind is AlertKind.START]
    assert start.track_id == first
