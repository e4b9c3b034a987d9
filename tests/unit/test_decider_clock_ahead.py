"""The wall clock stepping ahead between two frames of a camera (NTP's first sync on a box that
booted without a battery-backed clock): frames are stamped with that clock, so a loiter that began a
second before the step looked an hour long on the frame after it and fired at once. The camera's
rules start afresh on the new clock instead: its open events end at its last frame before the step,
and a loiter counts from the first frame after it. The real decider, tracker, rules and outbox; the
two capture clocks are set by hand, as a camera stamps them (gateway/ingest/camera.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, Detection, Frame, FrameResult
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from tests.unit.test_decider import wait_until
from tests.unit.test_decider_clock_step import (
    BEFORE,
    DETECTOR,
    KEY,
    PERSON,
    YARD,
    Clock,
    decider_for,
    kinds,
    paired,
)

TIMING = EventTiming(cooldown_s=30.0, update_interval_s=100.0, end_after_s=5.0, max_event_s=300.0)
LOITER = RuleSpec(
    "loiter", RuleType.LOITER, "detector", frozenset({"person"}), (YARD,), 0.5, 1, TIMING, min_s=10.0
)
INTRUSION = RuleSpec(
    "intrusion", RuleType.PRESENCE, "detector", frozenset({"person"}), (YARD,), 0.5, 1, TIMING
)
IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)
STEP_S = 3600.0
NO_TICK_S = 3600.0
"""No tick during a test but the one about ticks: frames alone restart the camera."""


def submit(decider: AlertDecider, number: int, wall: float, monotonic: float, *detections: Detection) -> None:
    """One frame as a camera stamps it: both capture clocks read at once."""
    decider.submit(
        FrameResult("gate", number, wall, DETECTOR, detections), Frame("gate", number, wall, monotonic, IMAGE)
    )


def one_event_ended_between(announced: list[Alert], earliest: float, latest: float) -> bool:
    """Whether ``announced`` is one event's start, at ``BEFORE``, and its end, dated from ``earliest``
    to ``latest``: on the clock it began on, not the step's."""
    (start, started_at), (end, ended_at) = kinds(announced)
    return (start, end, started_at) == ("start", "end", BEFORE) and earliest <= ended_at <= latest


def test_a_loiter_does_not_count_the_clock_s_step(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(outbox, clock, announced, [CameraRules("gate", (LOITER, INTRUSION))], NO_TICK_S)
    try:
        decider.start()
        # Given a person in the yard for 2 s, an intrusion open and the loiter not yet reached
        for number in range(11):
            submit(decider, number, BEFORE + 0.2 * number, 100.0 + 0.2 * number, PERSON)
        assert wait_until(lambda: len(announced) == 1)
        # When the wall clock steps an hour ahead and the person stays 1 s more
        clock.now = BEFORE + STEP_S + 3.0
        for number in range(11, 16):
            at = 0.2 * number
            submit(decider, number, BEFORE + STEP_S + at, 100.0 + at, PERSON)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    # Then no loiter fired: the intrusion ended at the last frame before the step and started again
    # on the new clock, and the stop ended it
    assert [
        (alert.event.rule, kind) for alert, (kind, _at) in zip(announced, kinds(announced), strict=True)
    ] == [
        ("intrusion", "start"),
        ("intrusion", "end"),
        ("intrusion", "start"),
        ("intrusion", "end"),
    ]
    assert kinds(announced)[1] == ("end", BEFORE + 2.0)
    assert kinds(announced)[2] == ("start", BEFORE + STEP_S + 2.2)
    assert paired(announced)


def test_frames_whose_clocks_agree_never_restart(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(outbox, clock, announced, [CameraRules("gate", (LOITER, INTRUSION))], NO_TICK_S)
    try:
        decider.start()
        # A person for 12 s with a 1.5 s gap in the frames (motion gating, a slow camera): no step
        times = [0.2 * number for number in range(30)] + [7.5 + 0.2 * number for number in range(25)]
        for number, at in enumerate(times):
            submit(decider, number, BEFORE + at, 100.0 + at, PERSON)
        clock.now = BEFORE + 13.0
        assert decider.stop(5.0)
    finally:
        outbox.close()
    # The loiter reached its 10 s across the gap, and nothing ended or started twice
    assert sorted((alert.event.rule, alert.event.kind.value) for alert in announced) == [
        ("intrusion", "end"),
        ("intrusion", "start"),
        ("loiter", "end"),
        ("loiter", "start"),
    ]


def test_a_tick_after_the_step_ends_an_event_on_the_clock_it_began_on(tmp_path: Path) -> None:
    clock, monotonic, announced = Clock(BEFORE), Clock(100.0), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(outbox, clock, announced, [CameraRules("gate", (INTRUSION,))], monotonic=monotonic)
    try:
        decider.start()
        # Given a person in the yard, an intrusion open, and then no frames (motion gating). One frame:
        # its start announced, it has been judged, and none is left to judge on the stepped clock
        submit(decider, 0, BEFORE, 100.0, PERSON)
        assert wait_until(lambda: len(announced) == 1)
        # When the wall clock steps an hour ahead, and 6 s pass with no frame (end_after_s is 5)
        monotonic.now = 100.0 + 6.0
        clock.now = BEFORE + STEP_S + 6.0
        # Then the ticks end the intrusion on the clock it began on, not an hour after it
        assert wait_until(lambda: len(announced) == 2)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert one_event_ended_between(announced, BEFORE, BEFORE + 6.0)


def test_a_frame_judged_after_the_step_does_not_count_it_as_its_lag(tmp_path: Path) -> None:
    clock, monotonic, announced, judged = Clock(BEFORE), Clock(100.0), list[Alert](), list[int]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    decider = decider_for(
        outbox,
        clock,
        announced,
        [CameraRules("gate", (INTRUSION,))],
        monotonic=monotonic,
        observe=lambda result: judged.append(result.frame_seq),
    )
    try:
        decider.start()
        # Given a person in the yard, an intrusion open
        submit(decider, 0, BEFORE, 100.0, PERSON)
        assert wait_until(lambda: len(announced) == 1)
        # When a frame captured half a second later is judged after the wall clock stepped an hour
        # ahead (it was in inference), and then 6 s pass with no frame (end_after_s is 5)
        monotonic.now = 101.0
        clock.now = BEFORE + STEP_S + 1.0
        submit(decider, 1, BEFORE + 0.5, 100.5, PERSON)
        assert wait_until(lambda: judged == [0, 1])
        monotonic.now = 100.5 + 6.0
        clock.now = BEFORE + STEP_S + 6.5
        # Then the ticks end the intrusion: the frame's lag is the half second it waited, not the step
        assert wait_until(lambda: len(announced) == 2)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert one_event_ended_between(announced, BEFORE + 0.5, BEFORE + 6.5)
