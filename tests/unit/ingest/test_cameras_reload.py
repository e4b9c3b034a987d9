"""A reload's rules reach the sampler: which boxes the live view shows (the model's own, or the
decider's tracked ones) and which still objects keep going to the model on a still scene. The
sampler kept the rules it started with: a camera whose rules a reload removed showed its last
tracked boxes for good, and a still object of a label a reload began to follow was gated."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np

from gateway.domain import Detection, DetectOutput, Frame, Image, ModelRef, ModelReference
from gateway.ingest.cameras import CameraPipeline
from tests.unit.ingest.conftest import ScriptedOpener, ScriptedSource, image, wait_until
from tests.unit.ingest.test_cameras import Sink, camera, pipeline_for

SOMEONE = {"name": "someone", "labels": ["person"], "end_after_s": 0.8}
CATS = {"name": "cats", "labels": ["cat"], "end_after_s": 0.8}
TRACKED = Detection("person", 0.9, (0.1, 0.1, 0.4, 0.9), track_id=7)


class CountingDetector:
    """Sees one person in every frame; counts the frames it is given."""

    def __init__(self) -> None:
        self.runs = 0
        self._lock = threading.Lock()

    def __call__(self, model: ModelReference, _frame: Frame, _deadline: float | None) -> Future[DetectOutput]:
        with self._lock:
            self.runs += 1
        future: Future[DetectOutput] = Future()
        person = Detection("person", 0.9, (0.1, 0.1, 0.4, 0.9))
        future.set_result(DetectOutput(ModelRef(model.name, model.version or 1), (person,), None))
        return future


def started(
    configs: list[Any],
    detector: CountingDetector,
    openers: dict[str, ScriptedOpener],
    running: list[CameraPipeline],
) -> tuple[CameraPipeline, Sink]:
    sink = Sink()
    pipeline, _ = pipeline_for(configs, detector, sink, openers)
    running.append(pipeline)
    pipeline.start()
    assert wait_until(lambda: len(sink.results) >= 1)
    return pipeline, sink


def shown(pipeline: CameraPipeline) -> tuple[Detection, ...]:
    status = pipeline.camera("cam")
    assert status is not None
    return status.detections


def test_rules_removed_by_a_reload_give_the_live_view_the_models_boxes_again(
    openers: dict[str, ScriptedOpener], running: list[CameraPipeline]
) -> None:
    # Given a camera with a rule: the decider's tracked boxes are shown, the sampler leaves them be.
    pipeline, sink = started([camera(rules=[SOMEONE])], CountingDetector(), openers, running)
    pipeline.show("cam", (TRACKED,))
    assert shown(pipeline) == (TRACKED,)
    # When a reload removes the camera's rules (no tracker runs for it any more),
    pipeline.apply_reload([camera(rules=[])])
    seen = len(sink.results)
    assert wait_until(lambda: len(sink.results) >= seen + 3)
    # then the live view shows the model's own boxes of the newest frames.
    assert wait_until(lambda: [detection.track_id for detection in shown(pipeline)] == [None])


def test_rules_added_by_a_reload_leave_the_live_view_to_the_tracker(
    openers: dict[str, ScriptedOpener], running: list[CameraPipeline]
) -> None:
    pipeline, sink = started([camera(rules=[])], CountingDetector(), openers, running)
    assert wait_until(lambda: [detection.track_id for detection in shown(pipeline)] == [None])
    pipeline.apply_reload([camera(rules=[SOMEONE])])
    pipeline.show("cam", (TRACKED,))
    seen = len(sink.results)
    assert wait_until(lambda: len(sink.results) >= seen + 5)
    # The sampler's untracked boxes no longer replace the tracked ones between the decider's frames.
    assert shown(pipeline) == (TRACKED,)


def test_a_still_object_a_reload_begins_to_follow_keeps_going_to_the_model(
    openers: dict[str, ScriptedOpener], running: list[CameraPipeline]
) -> None:
    # Given a still scene with a person in it, gated, on a camera whose rule follows cats:
    # keepalive_s is 0.2 s (a quarter of end_after_s), the sampling interval 0.02 s.
    motion = {"enabled": True, "hold_s": 0}
    detector = CountingDetector()
    started([camera(motion=motion, rules=[CATS])], detector, openers, running)
    runs = detector.runs
    threading.Event().wait(0.6)
    assert detector.runs - runs <= 1
    pipeline = running[0]
    # When a reload makes the rule follow people,
    pipeline.apply_reload([camera(motion=motion, rules=[SOMEONE])])
    runs = detector.runs
    threading.Event().wait(1.0)
    # then the person goes to the model about every 0.2 s (a third of that asked, for a loaded host).
    assert detector.runs - runs >= 5 / 3, detector.runs - runs


class RightHalfFlickers(ScriptedSource):
    """A still left half and a right half that changes in each frame (a tree in the wind)."""

    def retrieve(self) -> Image:
        frame = image(50)
        frame[:, 32:] = np.random.default_rng(self.index).integers(0, 256)
        return frame


class FlickerOpener(ScriptedOpener):
    def __call__(self) -> ScriptedSource:
        source = RightHalfFlickers(self.frames, self.interval_s)
        self.opened.append(source)
        return source


def test_a_mask_a_reload_draws_stops_the_motion_under_it(
    openers: dict[str, ScriptedOpener], running: list[CameraPipeline]
) -> None:
    openers["cam"] = FlickerOpener()
    detector = CountingDetector()
    flickering = camera(motion={"enabled": True, "hold_s": 0})
    pipeline, _ = started([flickering], detector, openers, running)
    assert wait_until(lambda: detector.runs >= 10)
    assert not quiet_for(detector, 0.5, within_s=1.5)  # the flicker is motion in almost every frame
    right_half = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
    pipeline.apply_reload([camera(motion={"enabled": True, "hold_s": 0, "mask": [right_half]})])
    # The gate takes the mask before its next frame (which it sends on, as a new background's
    # first): from then on the flicker is no motion, and the model rests.
    assert quiet_for(detector, 0.5, within_s=5.0)


def quiet_for(detector: CountingDetector, seconds: float, within_s: float) -> bool:
    """Whether, within ``within_s``, the detector is given no frame for ``seconds`` on end (at 50
    frames a second, some 25 frames gated in a row)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() + seconds <= deadline:
        runs = detector.runs
        threading.Event().wait(seconds)
        if detector.runs == runs:
            return True
    return False


def test_a_reload_that_reorders_the_cameras_lists_them_in_its_order(
    openers: dict[str, ScriptedOpener], running: list[CameraPipeline]
) -> None:
    # Given cameras a, b and c, started in that order
    configs = [camera(name) for name in ("a", "b", "c")]
    pipeline, _ = pipeline_for(configs, CountingDetector(), Sink(), openers)
    running.append(pipeline)
    assert [status.camera_id for status in pipeline.cameras()] == ["a", "b", "c"]
    # When a reload lists them c, a (b removed from the file, so it runs on until a restart)
    pipeline.apply_reload([configs[2], configs[0]])
    # Then they are listed in the file's order, the one it no longer has after them
    assert [status.camera_id for status in pipeline.cameras()] == ["c", "a", "b"]
    pipeline.apply_reload([configs[1], configs[2], configs[0]])
    assert [status.camera_id for status in pipeline.cameras()] == ["b", "c", "a"]
