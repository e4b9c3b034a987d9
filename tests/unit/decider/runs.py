"""Runs of the real decider, tracker, rules and outbox (SQLite) on frames whose capture times, and
the clock, are set by hand: the set-up the tests of event ids (across a clock step, a reload, a
restart of the gateway) share. Each run opens the outbox as a gateway's start opens it and closes it
as its stop does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.config import OutboxConfig
from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, AlertKind, FrameResult
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from gateway.tracking import TrackerSpec
from tests.unit.test_decider import wait_until
from tests.unit.test_decider_clock_step import BEFORE, DETECTOR, KEY, PERSON, YARD, Clock, kinds, paired

CROWD = RuleSpec(
    "crowd",
    RuleType.COUNT,
    "detector",
    frozenset({"person"}),
    (YARD,),
    0.5,
    1,
    EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=1.0, max_event_s=300.0),
    min_count=1,
)
"""A frame-level rule: its event ids are the camera's, the rule's and the capture time only."""
STEP_S = 10.0
MS = round(BEFORE * 1000)
"""BEFORE in the ms of event ids."""

__all__ = [
    "BEFORE",
    "CROWD",
    "KEY",
    "MS",
    "STEP_S",
    "Clock",
    "Shown",
    "decider_on",
    "judged",
    "result",
    "run",
    "starts",
]


@dataclass(frozen=True, slots=True)
class Shown:
    """A frame of ``camera`` captured ``at``, with a person in the yard or not."""

    at: float
    person: bool
    camera: str = "gate"


def result(frame: Shown) -> FrameResult:
    return FrameResult(
        frame.camera, round(frame.at * 10), frame.at, DETECTOR, (PERSON,) if frame.person else ()
    )


def starts(alerts: Sequence[Alert]) -> list[str]:
    return [alert.event.event_id for alert in alerts if alert.event.kind is AlertKind.START]


def decider_on(
    outbox: Outbox, clock: Clock, announced: list[Alert], cameras: Sequence[CameraRules]
) -> AlertDecider:
    """The gateway's decider on ``outbox``: its ids continue past those the outbox holds; only
    frames act (no tick); a track missing on one frame is kept on it and ends on the next."""
    return AlertDecider(
        outbox,
        cameras,
        announce=announced.append,
        registry=CollectorRegistry(),
        clock=clock,
        trackers={camera.camera_id: TrackerSpec(confirm_hits=1, max_lost_s=0.5) for camera in cameras},
        committed_ids=outbox.committed_event_ids,
        tick_s=600.0,
    )


def run(
    tmp_path: Path,
    clock: Clock,
    frames: Sequence[Shown | tuple[float, bool]],
    step_back_at: int | None = None,
    rules: tuple[RuleSpec, ...] = (CROWD,),
    *,
    cameras: Sequence[str] = ("gate",),
    outbox: OutboxConfig | None = None,
) -> list[Alert]:
    """One run of the gateway on the outbox in ``tmp_path``: ``frames`` ((capture time, person) for
    the gate), the clock stepping back to just past frame ``step_back_at``'s capture time before it;
    every event but the last frame's ends before the next; each of ``cameras`` has ``rules``."""
    announced: list[Alert] = []
    box = Outbox(tmp_path, "jetson-01", KEY, config=outbox)
    decider = decider_on(box, clock, announced, [CameraRules(camera, rules) for camera in cameras])
    try:
        decider.start()
        for index, given in enumerate(frames):
            frame = given if isinstance(given, Shown) else Shown(*given)
            if index == step_back_at:
                clock.now = frame.at + 0.1
            decider.submit(result(frame))
        assert decider.stop(5.0)
    finally:
        box.close()
    assert paired(announced), kinds(announced)
    return announced


def judged(announced: list[Alert], count: int) -> None:
    """Wait until ``count`` alerts were announced."""
    assert wait_until(lambda: len(announced) >= count), kinds(announced)
