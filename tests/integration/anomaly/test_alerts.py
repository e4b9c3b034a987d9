"""An enrolled model (ONNX Runtime on the written file) through the gateway's pre- and post-processing
and its rules: where the anomaly is, and a parked object becoming the new normal."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from gateway.config import CameraConfig
from gateway.domain import AlertEvent, AlertKind, FrameResult, ModelRef
from gateway.enroll import enroll_frames
from gateway.inference.model_config import load_model_config
from gateway.inference.postprocess import anomaly_map, decode
from gateway.inference.preprocess import prepare
from gateway.pipeline.specs import rule_specs
from gateway.rules.engine import RuleEngine

from .conftest import ScriptedClip

OBJECT = ((150, 60), (190, 130))
"""The scripted clip's object, in pixels of the 320 x 180 frame."""


def test_an_anomaly_is_located_and_a_parked_object_becomes_the_new_normal(
    tmp_path: Path, scripted_clip: ScriptedClip
) -> None:
    # Given a model enrolled on the clip's normal part, served through the gateway's own pre- and
    # post-processing, and the anomaly rule with new_normal_after_s 30
    enrolled = enroll_frames(list(scripted_clip.normal), camera_id="yard", repository=tmp_path)
    config = load_model_config(enrolled.model_yaml)
    assert config.preprocess is not None
    session = ort.InferenceSession(str(enrolled.model_path), providers=["CPUExecutionProvider"])
    camera = CameraConfig.model_validate(
        {
            "id": "yard",
            "url": "yard.mp4",
            "anomaly": {
                "model": "scene-anomaly-yard",
                "min_frames": 3,
                "end_after_s": 5,
                "cooldown_s": 0,
                "new_normal_after_s": 30,
            },
        }
    )
    rules = RuleEngine(rule_specs([camera]))
    reference = ModelRef("scene-anomaly-yard", enrolled.version)

    # When, at one frame a second, an object stands in the scene from 10 s to 99 s, is gone until
    # 114 s and is back from 115 s
    events: list[AlertEvent] = []
    elsewhere = np.ones((18, 32), dtype=bool)
    elsewhere[2:17, 11:23] = False  # the object's cells (rows 6..13, columns 15..19) and 4 around
    farthest = 0.0
    for second in range(130):
        frame = scripted_clip.normal[second % len(scripted_clip.normal)].copy()
        if 10 <= second < 100 or second >= 115:
            cv2.rectangle(frame, *OBJECT, (230, 230, 230), -1)
        tensor, letterbox = prepare(frame, config.preprocess)
        score, cells = session.run(None, {"frame": tensor[np.newaxis]})
        outputs = {"score": score[0], "map": cells[0]}
        detections, frame_score = decode(outputs, letterbox, config.postprocess)
        result = FrameResult(
            "yard",
            second,
            float(second),
            reference,
            detections,
            frame_score,
            anomaly_map=anomaly_map(outputs, config.postprocess),
        )
        events += rules.process(result)
        farthest = max(farthest, float(cells[0][elsewhere].max()))

    # Then the anomaly starts on its third frame with the peak cell inside the object, the object
    # becomes the new normal after 30 s (one scene_change with a box around it), the anomaly ends,
    # and the object's return after it left is a new anomaly
    events = [event for event in events if event.kind is not AlertKind.UPDATE]
    summary = [(event.kind.value, event.label, event.frame_ts) for event in events]
    assert summary == [
        ("start", "anomaly", 12.0),
        ("start", "scene_change", 40.0),
        ("end", "scene_change", 40.0),
        ("end", "anomaly", 44.0),
        ("start", "anomaly", 117.0),
    ]
    (x1, y1), (x2, y2) = OBJECT
    inside = (x1 / 320 - 0.04, y1 / 180 - 0.06, x2 / 320 + 0.04, y2 / 180 + 0.06)
    for event in (events[0], events[4]):
        assert event.box is not None
        left, top, right, bottom = event.box
        assert (inside[0] <= left, inside[1] <= top, right <= inside[2], bottom <= inside[3]) == (True,) * 4
    patch = events[1].box
    assert patch is not None
    left, top, right, bottom = patch
    assert (left <= x1 / 320, top <= y1 / 180, right >= x2 / 320, bottom >= y2 / 180) == (True,) * 4
    assert rules.scene_change("yard") is None
    # and the object never bent the light the rest of the frame is measured against
    assert farthest < 0.5
