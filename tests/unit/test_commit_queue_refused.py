"""An alert the outbox refuses for good (it cannot be encoded) is never silently lost: logged whole
at ERROR, counted, and the decider's health fails from then on, while later alerts still commit.
The real commit queue and decider against the real outbox."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.commit_queue import CommitQueue
from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, AlertEvent, AlertKind, Detection, FrameResult, ModelRef
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import TrackerSpec

KEY = bytes(range(32))
DETECTOR = ModelRef("detector", 1)


def event(number: int, score: float = 0.9) -> AlertEvent:
    return AlertEvent(
        event_id=f"gate:intrusion:{number}",
        kind=AlertKind.START,
        camera_id="gate",
        rule="intrusion",
        label="person",
        score=score,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=1_764_000_000.0 + number,
        model=ModelRef("person-detector", 1),
    )


def test_an_unencodable_alert_is_logged_whole_counted_and_kept_as_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the real outbox behind the commit queue
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    registry = CollectorRegistry()
    announced: list[Alert] = []
    woken = threading.Event()
    queue = CommitQueue(outbox, announced.append, woken.set, registry, timeout_s=1.0)
    try:
        # When a batch it cannot encode (a score that is no number) comes between two good ones
        with caplog.at_level(logging.ERROR, logger="gateway.commit_queue"):
            queue.add([event(1)])
            queue.add([event(2, score=math.nan)])
            queue.add([event(3)])
            queue.drain()
    finally:
        outbox.close()
    # Then the good ones commit, in order, and the bad one is not silently gone
    assert [alert.event.event_id for alert in announced] == ["gate:intrusion:1", "gate:intrusion:3"]
    assert queue.held == 0
    refused = queue.refused
    assert refused is not None
    assert refused.count == 1
    assert "cannot encode" in refused.first
    assert registry.get_sample_value("edge_gateway_alerts_uncommitted_total") == 1.0
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "gate:intrusion:2" in errors[0].getMessage()
    assert "nan" in errors[0].getMessage()


class NoNumberRules:
    """The real outbox, behind a stand-in for a rules bug: every start it is handed scores NaN."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def append_async(
        self, events: Sequence[AlertEvent], evidence: Sequence[bytes | None] = ()
    ) -> Future[list[Alert]]:
        broken = [
            dataclasses.replace(event, score=math.nan) if event.kind is AlertKind.START else event
            for event in events
        ]
        return self.outbox.append_async(broken, evidence)

    def open_events(self) -> list[AlertEvent]:
        return self.outbox.open_events()

    def commit_failure(self) -> tuple[float, str] | None:
        return self.outbox.commit_failure()


def test_the_decider_reports_unhealthy_once_an_alert_could_not_be_committed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    yard = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
    timing = EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=5.0, max_event_s=300.0)
    rule = RuleSpec(
        "intrusion", RuleType.PRESENCE, "detector", frozenset({"person"}), (yard,), 0.5, 1, timing
    )
    registry = CollectorRegistry()
    decider = AlertDecider(
        NoNumberRules(outbox),
        [CameraRules("gate", (rule,))],
        announce=lambda _alert: None,
        registry=registry,
        trackers={"gate": TrackerSpec(confirm_hits=1)},
    )
    decider.start()
    try:
        assert decider.health_problems() == []
        decider.submit(
            FrameResult("gate", 1, 1.0, DETECTOR, (Detection("person", 0.9, (0.4, 0.4, 0.6, 0.8)),))
        )
    finally:
        stopped = decider.stop(5.0)
        outbox.close()
    assert stopped
    # The start could not be committed: the gateway says so (the watchdog stops it) and keeps saying so.
    problems = decider.health_problems()
    assert any("1 decided alerts could not be committed" in problem for problem in problems), problems
    assert registry.get_sample_value("edge_gateway_alerts_uncommitted_total") == 1.0
