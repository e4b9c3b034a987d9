"""One camera's frame that fails before the rules judge it is skipped for that camera alone: logged
once with its traceback, counted, named by health while it lasts, and the camera's open events still
end (by the normal timeout, or at stop). The real decider, tracker, rules and commit queue."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from gateway.decider import FAILING_HEALTH_S, TICK_S, AlertDecider, Show
from gateway.domain import Detection, FrameResult, ModelRef
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import TrackerSpec
from tests.unit.test_decider import Clock, FakeSink

DETECTOR = ModelRef("detector", 1)
YARD = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
TIMING = EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=5.0, max_event_s=300.0)
RULE = RuleSpec("intrusion", RuleType.PRESENCE, "detector", frozenset({"person"}), (YARD,), 0.5, 1, TIMING)
PERSON = Detection("person", 0.9, (0.4, 0.4, 0.6, 0.8))
BROKEN = Detection("person", 0.9, (0.1, math.nan, 0.2, 0.9))
TRACKERS = {camera: TrackerSpec(confirm_hits=1) for camera in ("gate", "door")}


def result(camera: str, at: float, *detections: Detection) -> FrameResult:
    return FrameResult(camera, round(at * 10), at, DETECTOR, detections)


def wait_until(condition: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return condition()


def pairs(sink: FakeSink) -> dict[str, list[tuple[str, str | None]]]:
    """Per event id: its alerts' (kind, end reason)."""
    events: dict[str, list[tuple[str, str | None]]] = {}
    for alert in sink.committed:
        reason = alert.event.end_reason.value if alert.event.end_reason else None
        events.setdefault(alert.event.event_id, []).append((alert.event.kind.value, reason))
    return events


@dataclass
class Harness:
    """The real decider's collaborators: a clock the test sets, the outbox in memory, and the
    registry its failure counter is read from."""

    clock: Clock = field(default_factory=Clock)
    sink: FakeSink = field(default_factory=FakeSink)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def decider(
        self,
        *cameras: str,
        show: Show | None = None,
        tick_s: float = TICK_S,
        failing_health_s: float = FAILING_HEALTH_S,
    ) -> AlertDecider:
        """A decider judging ``RULE`` on each of ``cameras``, announcing nowhere."""
        return AlertDecider(
            self.sink,
            [CameraRules(camera, (RULE,)) for camera in cameras],
            announce=lambda _alert: None,
            registry=self.registry,
            trackers=TRACKERS,
            show=show,
            clock=self.clock,
            tick_s=tick_s,
            failing_health_s=failing_health_s,
        )

    def failed(self, stage: str, camera: str = "gate") -> float:
        """The camera's frames counted failed at ``stage`` so far."""
        value = self.registry.get_sample_value(
            "edge_gateway_decider_frames_failed_total", {"camera": camera, "stage": stage}
        )
        return value or 0.0


@pytest.fixture
def harness() -> Harness:
    return Harness()


def test_a_camera_whose_frames_fail_is_skipped_alone_reported_and_its_event_still_ends(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    clock, sink = harness.clock, harness.sink
    shown: list[str] = []
    decider = harness.decider(
        "gate",
        "door",
        show=lambda camera, _detections: shown.append(camera),
        tick_s=0.01,
        failing_health_s=10.0,
    )
    decider.start()
    try:
        # Given an event open on each camera
        clock.now = 1.0
        decider.submit(result("gate", 1.0, PERSON))
        decider.submit(result("door", 1.0, PERSON))
        assert wait_until(lambda: len(sink.committed) == 2)
        # When the gate's frames carry a box that is not finite numbers, again and again
        clock.now = 2.0
        with caplog.at_level(logging.ERROR, logger="gateway.decider"):
            for at in (2.0, 2.2, 2.4):
                decider.submit(result("gate", at, PERSON, BROKEN))
            decider.submit(result("door", 2.0, PERSON))
            assert wait_until(lambda: harness.failed("invalid") == 3.0 and shown.count("door") == 2)
        # Then the decider lives on, the other camera is judged, and the problem is logged once,
        # with its traceback
        errors = [record for record in caplog.records if record.levelno == logging.ERROR]
        assert len(errors) == 1
        assert errors[0].exc_info is not None
        assert getattr(errors[0], "camera", None) == "gate"
        assert "not a finite number" in errors[0].getMessage()
        assert decider.health_problems() == []
        # And a failure that lasts is a health problem, not a log line only
        clock.now = 12.5
        problems = decider.health_problems()
        assert len(problems) == 1, problems
        assert "camera gate" in problems[0]
        assert "failed for 10 s" in problems[0]
        # And the gate's open event ends the normal way (no news for end_after_s), paired
        gate_event = next(alert.event.event_id for alert in sink.committed if alert.event.camera_id == "gate")
        assert wait_until(lambda: pairs(sink)[gate_event] == [("start", None), ("end", "cleared")])
        # When the gate's frames are good again, it is judged and healthy again
        decider.submit(result("gate", 13.0, PERSON))
        assert wait_until(lambda: shown.count("gate") == 2)
        assert wait_until(lambda: decider.health_problems() == [])
    finally:
        assert decider.stop(5.0)
    # Every start has exactly one end
    for event_id, kinds in pairs(sink).items():
        assert [kind for kind, _ in kinds] == ["start", "end"], (event_id, kinds)
    assert len(pairs(sink)) == 3


def test_a_camera_whose_frames_fail_until_stop_has_its_event_ended_at_stop(harness: Harness) -> None:
    decider = harness.decider("gate")
    decider.start()
    harness.clock.now = 1.0
    decider.submit(result("gate", 1.0, PERSON))
    for at in (1.2, 1.4):
        decider.submit(result("gate", at, BROKEN))
    assert decider.stop(5.0)
    assert list(pairs(harness.sink).values()) == [[("start", None), ("end", "stopped")]]
    assert harness.failed("invalid") == 2.0


def test_a_tracker_that_raised_midway_is_replaced_its_ids_continuing(harness: Harness) -> None:
    sink = harness.sink
    decider = harness.decider("gate")
    decider.start()
    harness.clock.now = 1.0
    decider.submit(result("gate", 1.0, PERSON))
    # A box of three numbers is no input check's business: the tracker fails halfway through
    decider.submit(result("gate", 1.2, PERSON, Detection("person", 0.9, (0.1, 0.2, 0.3))))  # type: ignore[arg-type]
    decider.submit(result("gate", 1.4, PERSON))
    assert decider.stop(5.0)
    assert harness.failed("tracker") == 1.0
    # The fresh tracker gives the person a new id past the old one's; both events are paired
    starts = [alert.event.track_id for alert in sink.committed if alert.event.kind.value == "start"]
    assert len(starts) == 2
    assert starts[0] is not None
    assert starts[1] is not None
    assert starts[1] > starts[0]
    for event_id, kinds in pairs(sink).items():
        assert [kind for kind, _ in kinds] == ["start", "end"], (event_id, kinds)
