"""An anomaly frame the decider does not score (it does not match what the model was enrolled on: a
camera in night infrared) says nothing about the scene, so the camera's sampler must not take its
map as an anomaly held: that kept a still night scene's frames going to the models in each
``keepalive_s`` (motion gating's keepalive for a still anomaly) all night. The real camera reader on
a PNG sequence (lossless, so the grey frames stay grey), the real sampler and motion gate, the
enrolled model on ONNX Runtime through the gateway's pre- and post-processing, the real decider and
outbox."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.delivery.outbox import Outbox
from gateway.domain import Alert, DetectOutput, Frame, FrameResult, ModelRef, ModelReference
from gateway.enroll import Enrollment
from gateway.inference.model_config import load_model_config
from gateway.inference.postprocess import anomaly_map, decode
from gateway.inference.preprocess import prepare
from gateway.ingest.camera import Camera
from gateway.ingest.camera_metrics import latency_histogram
from gateway.ingest.sampler import CameraRuntime, Sampler
from gateway.ingest.sources import source_factory
from gateway.pipeline.specs import rule_specs
from tests.unit.test_decider import wait_until

from .conftest import ScriptedClip
from .test_frame_format import KEY, checking_decider, grey

FRAMES = 20


class EnrolledModel:
    """The sampler's detector contract on the enrolled model, run at once; ``hottest`` keeps each
    map's hottest cell against the threshold (1.0: anomalous)."""

    def __init__(self, enrolled: Enrollment) -> None:
        self._config = load_model_config(enrolled.model_yaml)
        self._session = ort.InferenceSession(str(enrolled.model_path), providers=["CPUExecutionProvider"])
        self._model = ModelRef(enrolled.model, enrolled.version)
        self.hottest: list[float] = []

    def __call__(self, _model: ModelReference, frame: Frame, _deadline: float | None) -> Future[DetectOutput]:
        assert self._config.preprocess is not None
        tensor, letterbox = prepare(frame.image, self._config.preprocess)
        score, cells = self._session.run(None, {"frame": tensor[np.newaxis]})
        outputs = {"score": score[0], "map": cells[0]}
        detections, frame_score = decode(outputs, letterbox, self._config.postprocess)
        found = anomaly_map(outputs, self._config.postprocess)
        assert found is not None
        self.hottest.append(float(found.cells.max()) / found.threshold)
        done: Future[DetectOutput] = Future()
        done.set_result(DetectOutput(self._model, detections, frame_score, found))
        return done


def test_unscored_infrared_frames_do_not_hold_the_camera_anomalous(
    tmp_path: Path, scripted_clip: ScriptedClip, enrolled: Enrollment
) -> None:
    # Given camera 'yard', whose model was enrolled on its colour frames, now in infrared: grey frames
    night = tmp_path / "night"
    night.mkdir()
    for index, frame in enumerate(scripted_clip.normal[:FRAMES]):
        assert cv2.imwrite(str(night / f"img{index:03d}.png"), grey(frame))
    config = CameraConfig.model_validate(
        {
            "id": "yard",
            "url": str(night / "img%03d.png"),
            "detect_fps": 5,
            "anomaly": {"model": enrolled.model, "min_frames": 3, "end_after_s": 5, "cooldown_s": 0},
        }
    )
    registry, announced = CollectorRegistry(), list[Alert]()
    outbox = Outbox(tmp_path / "state", "jetson-01", KEY)
    decider = checking_decider(tmp_path, outbox, registry, announced, rule_specs([config]))
    model = EnrolledModel(enrolled)
    runtime = CameraRuntime.for_camera(Camera(config, source_factory(config)), config)

    def decide(frame: Frame, result: FrameResult) -> bool:
        return decider.submit(result, frame)

    latency = latency_histogram(registry)
    sampler = Sampler([runtime], model, decide, latency, max_in_flight=2, max_pending=None)

    def unscored() -> float:
        counted = registry.get_sample_value("edge_gateway_anomaly_frames_unscored_total", {"camera": "yard"})
        return counted or 0.0

    try:
        decider.start()
        runtime.camera.start()
        sampler.start()
        # When the sampler has sent three of them to the model
        assert wait_until(lambda: unscored() >= 3.0, 20.0), unscored()
    finally:
        sampler.request_stop()
        assert sampler.join(5.0)
        assert runtime.camera.stop(5.0)
        assert decider.stop(5.0)
        outbox.close()
    # Then the model found them anomalous all over, the decider did not score them
    assert model.hottest
    assert min(model.hottest) >= 1.0, model.hottest
    assert decider.frame_mismatches()["yard"].startswith("frames are grey")
    assert announced == []
    # and the camera is not held anomalous: nothing keeps a still night scene at the models
    assert not runtime.anomalous
