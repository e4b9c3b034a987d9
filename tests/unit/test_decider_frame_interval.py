"""A camera sampled less often than its rules' ``end_after_s`` (a timelapse camera at 0.1 fps with the
default 5 s): the decider's ticks ended an event 5 s after each frame although the person was on
every frame, and the 30 s cooldown then held the next event back. Ticks now leave each camera's rules
two of its frame intervals behind its newest frame, so only a frame without the object, or frames
that stop coming, end the event. The real decider, tracker, rules and outbox; the clock set by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import CameraConfig
from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, EndReason, FrameResult
from gateway.pipeline.specs import camera_rules
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from tests.unit.test_decider import wait_until
from tests.unit.test_decider_clock_step import BEFORE, DETECTOR, KEY, PERSON, YARD, Clock, decider_for

TIMING = EventTiming(cooldown_s=30.0, update_interval_s=100.0, end_after_s=5.0, max_event_s=3600.0)
INTRUSION = RuleSpec(
    "intrusion", RuleType.PRESENCE, "detector", frozenset({"person"}), (YARD,), 0.5, 1, TIMING
)
JUDGED_AFTER_S = 0.05


def ends(alerts: list[Alert], camera_id: str) -> list[tuple[EndReason | None, object]]:
    return [
        (alert.event.end_reason, alert.event.frame_ts)
        for alert in alerts
        if alert.event.camera_id == camera_id and alert.event.end_reason is not None
    ]


def submit(decider: AlertDecider, clock: Clock, camera_id: str, at: float) -> None:
    """A frame with the person, judged ``JUDGED_AFTER_S`` after its capture."""
    clock.now = at + JUDGED_AFTER_S
    decider.submit(FrameResult(camera_id, round(at * 10), at, DETECTOR, (PERSON,)))


def test_ticks_do_not_end_an_event_between_two_frames_of_a_slow_camera(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    # "gate" is sampled every 10 s; "yard", every 0.2 s, tells when a tick has judged the clock
    cameras = [
        CameraRules("gate", (INTRUSION,), frame_interval_s=10.0),
        CameraRules("yard", (INTRUSION,), frame_interval_s=0.2),
    ]
    decider = decider_for(outbox, clock, announced, cameras)
    try:
        decider.start()
        # Given a person on each camera's frame at the same moment, an intrusion open on each
        submit(decider, clock, "gate", BEFORE)
        submit(decider, clock, "yard", BEFORE)
        assert wait_until(lambda: len(announced) == 2)
        # When 9 s pass with no frame: yard's person has been gone for longer than end_after_s,
        # gate's next frame is not due yet
        clock.now = BEFORE + 9.0
        assert wait_until(lambda: bool(ends(announced, "yard")))
        # Then gate's event is still open, and its next frame, with the person, continues it
        assert ends(announced, "gate") == []
        submit(decider, clock, "gate", BEFORE + 10.0)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    # yard's end is dated where its ticks stand: 9 s less the frame's lag and two of its intervals
    assert ends(announced, "yard") == [(EndReason.CLEARED, pytest.approx(BEFORE + 8.55, abs=1e-6))]
    assert ends(announced, "gate") == [(EndReason.STOPPED, BEFORE + 10.0 + JUDGED_AFTER_S)]


def test_frames_that_stop_still_end_the_event_two_frame_intervals_later(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(
        outbox, clock, announced, [CameraRules("gate", (INTRUSION,), frame_interval_s=10.0)]
    )
    try:
        decider.start()
        submit(decider, clock, "gate", BEFORE)
        assert wait_until(lambda: len(announced) == 1)
        # The camera's stream is lost: two frame intervals (and the lag) after the clock passes
        # end_after_s, the ticks stand past it and end the event
        clock.now = BEFORE + 25.55
        assert wait_until(lambda: len(announced) == 2)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    [(reason, ended_at)] = ends(announced, "gate")
    assert reason is EndReason.CLEARED
    assert ended_at == pytest.approx(BEFORE + 5.5, abs=1e-6)


def test_a_camera_s_frame_interval_is_one_over_its_detect_fps() -> None:
    config = CameraConfig.model_validate({"id": "gate", "url": "rtsp://127.0.0.1/stream", "detect_fps": 0.1})
    assert camera_rules(config).frame_interval_s == 10.0
