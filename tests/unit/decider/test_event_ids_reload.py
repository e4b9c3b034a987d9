"""A camera a decider reload removes and a later one brings back keeps its event ids: after a step
back of the clock, ids of capture times given out before the camera went away must not be given
again when it returns. (The gateway's reload keeps every camera it started with until a restart,
but ``AlertDecider.reload`` takes any cameras.) The real decider, tracker, rules and outbox; only
the clock is set by hand."""

from __future__ import annotations

from pathlib import Path

from gateway.delivery.outbox import Outbox
from gateway.domain import Alert
from gateway.rules.specs import CameraRules
from tests.unit.decider.runs import (
    BEFORE,
    CROWD,
    KEY,
    MS,
    STEP_S,
    Clock,
    Shown,
    decider_on,
    judged,
    result,
    starts,
)
from tests.unit.test_decider_clock_step import kinds, paired


def test_a_camera_back_after_a_reload_removed_it_gives_no_id_again(tmp_path: Path) -> None:
    clock, announced = Clock(BEFORE), list[Alert]()
    outbox = Outbox(tmp_path, "jetson-01", KEY)
    gate = CameraRules("gate", (CROWD,))
    decider = decider_on(outbox, clock, announced, [gate])
    try:
        decider.start()
        # Given a crowd at BEFORE that ended, then the clock stepping back STEP_S
        for frame in (Shown(BEFORE, True), Shown(BEFORE + 1.0, False), Shown(BEFORE + 2.0, False)):
            decider.submit(result(frame))
        judged(announced, 2)
        clock.now = BEFORE - STEP_S + 0.1
        decider.submit(result(Shown(BEFORE - STEP_S, False)))
        # When a reload removes the camera and another brings it back
        assert decider.reload([CameraRules("door", (CROWD,))]).result(5.0) == 0
        assert decider.reload([gate]).result(5.0) == 0
        # and a crowd starts on a frame captured at BEFORE again
        for frame in (Shown(BEFORE, True), Shown(BEFORE + 1.0, False), Shown(BEFORE + 2.0, False)):
            decider.submit(result(frame))
        judged(announced, 4)
        assert decider.stop(5.0)
    finally:
        outbox.close()
    # Then the second crowd has an id of its own
    assert starts(announced) == [f"gate:crowd:{MS}", f"gate:crowd:{MS}~1"], kinds(announced)
    assert paired(announced)
