"""The alert decider with the anomaly rule: located alerts, a lasting change reported once as a
scene change, and the re-enroll hint other threads read (``/v1/status``) following the rules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gateway.domain import AnomalyMap, FrameResult, ModelRef
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType
from tests.unit.test_decider import Clock, FakeSink, decider_for, wait_until

SCENE = ModelRef("scene-anomaly-gate", 1)
TIMING = EventTiming(cooldown_s=0.0, update_interval_s=100.0, end_after_s=2.0, max_event_s=300.0)
ANOMALY = RuleSpec(
    "anomaly",
    RuleType.ANOMALY,
    SCENE.name,
    frozenset({"anomaly"}),
    (),
    0.0,
    3,
    TIMING,
    new_normal_after_s=10.0,
)


def parked(at: float) -> FrameResult:
    """A 6 x 8 map with a parked car on four cells, its peak at row 3, column 2."""
    cells: npt.NDArray[np.float32] = np.full((6, 8), 0.1, dtype=np.float32)
    cells[2:4, 2:4] = 0.8
    cells[3, 2] = 0.9
    return FrameResult("gate", round(at) + 1, at, SCENE, (), 0.9, anomaly_map=AnomalyMap(cells, 0.5))


def test_a_parked_car_is_located_then_becomes_a_scene_change_listed_for_re_enrollment() -> None:
    clock = Clock()
    sink = FakeSink()
    decider = decider_for(sink, [CameraRules("gate", (ANOMALY,))], clock)
    decider.start()
    # When a car stands still in the scene for 15 s, one frame a second
    for second in range(16):
        clock.now = float(second)
        decider.submit(parked(float(second)))
    # Then the anomaly starts on its third frame at the peak cell, the car becomes the new normal
    # after 10 s (one scene_change alert with the changed region's box), the anomaly ends, and the
    # camera is listed for a re-enroll
    assert wait_until(lambda: len(sink.committed) == 4)
    events = [alert.event for alert in sink.committed]
    assert [(event.kind.value, event.label, event.frame_ts) for event in events] == [
        ("start", "anomaly", 2.0),
        ("start", "scene_change", 10.0),
        ("end", "scene_change", 10.0),
        ("end", "anomaly", 11.0),  # end_after_s after its last match, at 9 s
    ]
    assert events[0].box == (2 / 8, 3 / 6, 3 / 8, 4 / 6)
    assert events[1].box == (1 / 8, 1 / 6, 5 / 8, 5 / 6)  # the car's cells and one around them
    assert wait_until(lambda: len(decider.scene_changes()) == 1)
    [change] = decider.scene_changes()
    assert (change.camera_id, change.since, change.box) == ("gate", 10.0, events[1].box)
    # and a reload that drops the anomaly rule drops the hint with it
    assert decider.reload([CameraRules("gate", ())]).result(5) == 0
    assert decider.scene_changes() == []
    assert decider.stop(5.0)
