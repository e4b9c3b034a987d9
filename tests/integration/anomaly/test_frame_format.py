"""A camera whose frames stop looking like what its anomaly model was enrolled on (night infrared:
grey frames; another stream: another aspect) is not flagged anomalous everywhere: enrollment records
the frames' aspect and colour in the model's metadata, and the decider does not score frames that do
not match it, saying so once per change. The real enrolled model on ONNX Runtime through the gateway's
pre- and post-processing, the real decider, rules and outbox."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, AlertKind, Frame, FrameResult, ModelRef
from gateway.enroll import Enrollment, enrolled_format
from gateway.inference.model_config import load_model_config
from gateway.inference.postprocess import anomaly_map, decode
from gateway.inference.preprocess import prepare
from gateway.pipeline.specs import rule_specs
from gateway.rules.scene_format import Colour, SceneFormat
from gateway.rules.specs import CameraRules
from tests.unit.test_decider import wait_until

from .conftest import ScriptedClip

KEY = bytes(range(32))
START = 1_764_000_000.0
OBJECT = ((150, 60), (190, 130))
Image = npt.NDArray[np.uint8]


def grey(frame: Image) -> Image:
    """The frame as a camera in infrared mode delivers it: equal channels."""
    return np.asarray(cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))


def four_by_three(frame: Image) -> Image:
    """The frame as a 4:3 stream of the same camera sees it: the middle of the picture."""
    return np.ascontiguousarray(frame[:, 40:280])


def with_object(frame: Image) -> Image:
    frame = frame.copy()
    cv2.rectangle(frame, *OBJECT, (230, 230, 230), -1)
    return frame


class Camera:
    """Frames of camera 'yard' scored by its enrolled model, handed to a decider, one a second."""

    def __init__(self, enrolled: Enrollment, decider: AlertDecider) -> None:
        config = load_model_config(enrolled.model_yaml)
        assert config.preprocess is not None
        self._config = config
        self._session = ort.InferenceSession(str(enrolled.model_path), providers=["CPUExecutionProvider"])
        self._model = ModelRef(enrolled.model, enrolled.version)
        self._decider = decider
        self._seq = 0
        self.hottest: list[float] = []
        """Per frame, its hottest cell against the threshold (1.0: anomalous)."""

    def play(self, frames: Iterable[Image]) -> None:
        assert self._config.preprocess is not None
        for image in frames:
            self._seq += 1
            tensor, letterbox = prepare(image, self._config.preprocess)
            score, cells = self._session.run(None, {"frame": tensor[np.newaxis]})
            outputs = {"score": score[0], "map": cells[0]}
            detections, frame_score = decode(outputs, letterbox, self._config.postprocess)
            found = anomaly_map(outputs, self._config.postprocess)
            assert found is not None
            self.hottest.append(float(found.cells.max()) / found.threshold)
            at = START + self._seq
            result = FrameResult(
                "yard", self._seq, at, self._model, detections, frame_score, anomaly_map=found
            )
            self._decider.submit(result, Frame("yard", self._seq, at, 1000.0 + self._seq, image))


def anomaly_rules() -> tuple[CameraRules, ...]:
    camera = CameraConfig.model_validate(
        {
            "id": "yard",
            "url": "yard.mp4",
            "anomaly": {"model": "scene-anomaly-yard", "min_frames": 3, "end_after_s": 5, "cooldown_s": 0},
        }
    )
    return rule_specs([camera])


def checking_decider(
    tmp_path: Path,
    outbox: Outbox,
    registry: CollectorRegistry,
    announced: list[Alert],
    rules: Sequence[CameraRules] | None = None,
) -> AlertDecider:
    """A decider for ``rules`` (default: camera 'yard's anomaly rule) that checks anomaly frames
    against what the models in ``tmp_path / "models"`` were enrolled on; only frames act."""
    return AlertDecider(
        outbox,
        anomaly_rules() if rules is None else rules,
        announce=announced.append,
        registry=registry,
        enrolled_formats=lambda model: enrolled_format(tmp_path / "models", model),
        clock=lambda: START + 100.0,
        tick_s=600.0,
    )


def starts(alerts: list[Alert]) -> list[float]:
    return [alert.event.frame_ts - START for alert in alerts if alert.event.kind is AlertKind.START]


def test_frames_of_another_colour_mode_or_aspect_are_reported_not_alerted(
    tmp_path: Path, scripted_clip: ScriptedClip, enrolled: Enrollment, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a model enrolled on the clip's colour 320x180 frames, which records them
    assert enrolled.frame_format == SceneFormat(320, 180, Colour.COLOUR)
    assert enrolled_format(tmp_path / "models", ModelRef(enrolled.model, enrolled.version)) == SceneFormat(
        320, 180, Colour.COLOUR
    )
    registry, announced = CollectorRegistry(), list[Alert]()
    outbox = Outbox(tmp_path / "state", "jetson-01", KEY)
    decider = checking_decider(tmp_path, outbox, registry, announced)

    def unscored() -> float:
        return (
            registry.get_sample_value("edge_gateway_anomaly_frames_unscored_total", {"camera": "yard"}) or 0.0
        )

    normal = scripted_clip.normal
    camera = Camera(enrolled, decider)
    caplog.set_level(logging.INFO, logger="gateway.decider")
    try:
        decider.start()
        # When the camera switches to infrared for 10 frames, then to a 4:3 stream for 10
        camera.play(grey(frame) for frame in normal[:10])
        camera.play(four_by_three(frame) for frame in normal[10:20])
        assert wait_until(lambda: unscored() == 20.0), unscored()
        mismatch = decider.frame_mismatches()
        gauge = registry.get_sample_value("edge_gateway_anomaly_frame_mismatch", {"camera": "yard"})
        # and back to its enrolled colour stream, where an object then stands for 5 frames
        camera.play(normal[20:30])
        camera.play(with_object(frame) for frame in normal[30:35])
        assert wait_until(lambda: len(announced) == 1), [alert.event for alert in announced]
        assert decider.stop(5.0)
    finally:
        outbox.close()
    # Then the model itself found those frames anomalous all over (what used to raise alerts)
    assert min(camera.hottest[:20]) >= 1.0
    assert max(camera.hottest[20:30]) < 1.0
    # but none was scored: no anomaly event until the object (frames 31-35), on its third frame
    assert starts(announced) == [33.0]
    # and the camera said why, once per change, and what its state was
    assert mismatch["yard"].startswith("frames are 240x180")
    assert gauge == 1.0
    assert decider.frame_mismatches() == {}
    assert registry.get_sample_value("edge_gateway_anomaly_frame_mismatch", {"camera": "yard"}) == 0.0
    changes = [record.getMessage() for record in caplog.records if "anomaly frames" in record.getMessage()]
    assert len(changes) == 3, changes
    assert "frames are grey" in changes[0]
    assert "frames are 240x180" in changes[1]
    assert "match the model's enrollment again" in changes[2]


def test_a_model_enrolled_before_the_format_was_recorded_scores_every_frame(
    tmp_path: Path, scripted_clip: ScriptedClip, enrolled: Enrollment
) -> None:
    # Given the model file without the format entries, as enrollment wrote it before
    proto = onnx.load(str(enrolled.model_path))
    kept = [entry for entry in proto.metadata_props if not entry.key.startswith("frame_")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.save(proto, str(enrolled.model_path))
    model = ModelRef(enrolled.model, enrolled.version)
    assert enrolled_format(tmp_path / "models", model) == SceneFormat()
    registry, announced = CollectorRegistry(), list[Alert]()
    outbox = Outbox(tmp_path / "state", "jetson-01", KEY)
    decider = checking_decider(tmp_path, outbox, registry, announced)
    camera = Camera(enrolled, decider)
    try:
        decider.start()
        # When grey frames come
        camera.play(grey(frame) for frame in scripted_clip.normal[:5])
        # Then they are scored as before: an anomaly on the third
        assert wait_until(lambda: len(announced) == 1), [alert.event for alert in announced]
        assert decider.stop(5.0)
    finally:
        outbox.close()
    assert starts(announced) == [3.0]
    assert decider.frame_mismatches() == {}
