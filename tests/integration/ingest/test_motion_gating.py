"""Motion gating end to end: file cameras through the pipeline to a real ONNX Runtime model."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.domain import AnomalyMap, CameraState, DetectOutput, DropReason, Frame, ModelReference
from gateway.ingest.cameras import CameraPipeline
from tests.integration.ingest.conftest import OnnxDetector, wait_until
from tests.support import clips

DETECT_FPS = 10
RUN_S = 3.0
GATED_RUNS = 1 + DETECT_FPS * 0.5 + 1
"""Most model runs on a static scene: the first frame, which seeds the background, and hold_s after."""
SCENE_MODEL = "scene"
ANOMALY_THRESHOLD = 0.1


@pytest.fixture(scope="module")
def static_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clips.write_mp4(clips.static_clip(length=50), tmp_path_factory.mktemp("motion") / "static.mp4")


TREE_MASK = [[[0.6, 0.0], [1.0, 0.0], [1.0, 0.5], [0.6, 0.5]]]
"""Around tree_file's tree, a few pixels wider, as a user draws it on the live view."""


@pytest.fixture(scope="module")
def tree_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static scene but for a tree in wind at the top right (208-320 by 0-112 of 320 by 240): its
    leaves, blobs 8 pixels across, in another place in each frame."""
    frames = clips.static_clip(length=50)
    for index, frame in enumerate(frames):
        leaves = np.random.default_rng(index).integers(0, 256, (14, 14), dtype=np.uint8)
        frame[0:112, 208:320] = cv2.resize(leaves, (112, 112), interpolation=cv2.INTER_NEAREST)[:, :, None]
    return clips.write_mp4(frames, tmp_path_factory.mktemp("motion") / "tree.mp4")


@pytest.fixture(scope="module")
def moving_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clips.write_mp4(clips.moving_clip(length=50), tmp_path_factory.mktemp("motion") / "moving.mp4")


class AnomalyDetector(OnnxDetector):
    """The brightness model as a scene-anomaly model too: for SCENE_MODEL, a 2x2 map of the frame's
    brightness against ANOMALY_THRESHOLD, as an enrolled model's map of a lasting change reads."""

    def _run(self, model: ModelReference, frame: Frame, deadline: float | None) -> DetectOutput:
        output = super()._run(model, frame, deadline)
        if model.name != SCENE_MODEL:
            return output
        score = output.detections[0].score if output.detections else 0.0
        cells = np.full((2, 2), score, dtype=np.float32)
        return DetectOutput(output.model, (), score, AnomalyMap(cells, ANOMALY_THRESHOLD))


def run_camera(
    path: Path,
    detector: OnnxDetector,
    motion: bool = True,
    rules: tuple[dict[str, object], ...] = (),
    anomaly: dict[str, object] | None = None,
    *,
    mask: list[list[list[float]]] | None = None,
) -> tuple[int, int, dict[DropReason, int]]:
    """Run one file camera for RUN_S seconds; return (model runs, sampled frames, drops)."""
    config = CameraConfig.model_validate(
        {
            "id": "clip",
            "url": str(path),
            "model": "bright",
            "detect_fps": DETECT_FPS,
            "motion": {"enabled": motion, "hold_s": 0.5, "mask": mask or []},
            "tracker": {"max_lost_s": 0.4},
            "rules": list(rules),
            **({"anomaly": anomaly} if anomaly is not None else {}),
        }
    )
    pipeline = CameraPipeline([config], detector, lambda _f, _r: None, CollectorRegistry())
    pipeline.start()
    try:
        assert wait_until(lambda: pipeline.cameras()[0].state is CameraState.STREAMING, 20)
        time.sleep(RUN_S)
    finally:
        assert pipeline.stop()
    if anomaly is None:  # processed counts the detector's frames, runs every model's
        assert wait_until(lambda: detector.runs == pipeline.processed("clip"), 10)
    drops = pipeline.cameras()[0].drops
    sampled = detector.runs + sum(
        count for reason, count in drops.items() if reason is not DropReason.SUPERSEDED
    )
    return detector.runs, sampled, dict(drops)


def test_a_static_scene_runs_the_model_on_almost_no_frames(static_file: Path, detector: OnnxDetector) -> None:
    runs, sampled, drops = run_camera(static_file, detector)
    # Then: only the first frame (which seeds the background) and the hold after it reach the model.
    assert sampled >= DETECT_FPS * RUN_S * 0.8
    assert runs <= GATED_RUNS
    assert drops.get(DropReason.MOTION, 0) >= sampled - runs


def test_a_still_object_a_rule_follows_is_still_seen_on_a_static_scene(static_file: Path) -> None:
    # Given a static scene in which the detector sees an object ("bright", scoring about 0.25), on a
    # camera whose presence rule follows it: end_after_s 0.8 s and max_lost_s 0.4 s make keepalive_s
    # 0.2 s. Before, once hold_s had passed no frame went to the model: the rule's event lapsed
    # ("cleared") while the object stood there.
    detector = OnnxDetector(threshold=0.1)
    rule = {"name": "someone", "labels": ["bright"], "min_score": 0.2, "end_after_s": 0.8}
    try:
        runs, sampled, drops = run_camera(static_file, detector, rules=(rule,))
    finally:
        detector.close()

    # Then the model still runs on one frame in each 0.2 s after hold_s (some 12 more than the 7 a
    # gated scene gets; a third of them asked, for a loaded host), and gating still saves the others.
    assert sampled >= DETECT_FPS * RUN_S * 0.8
    assert runs >= GATED_RUNS + (RUN_S - 0.5) / 0.2 / 3, (runs, sampled)
    assert drops.get(DropReason.MOTION, 0) >= sampled * 0.3, (runs, sampled, drops)


def test_a_still_object_no_rule_follows_is_gated(static_file: Path) -> None:
    # Given the same scene with a rule that follows another label: nothing keeps the model running.
    detector = OnnxDetector(threshold=0.1)
    rule = {"name": "someone", "labels": ["person"], "min_score": 0.2, "end_after_s": 0.8}
    try:
        runs, sampled, _ = run_camera(static_file, detector, rules=(rule,))
    finally:
        detector.close()

    assert sampled >= DETECT_FPS * RUN_S * 0.8
    assert runs <= GATED_RUNS


def test_a_still_anomaly_is_still_seen_on_a_static_scene(static_file: Path) -> None:
    # Given a static scene that the camera's anomaly model finds anomalous throughout (a left object),
    # the detector seeing nothing: end_after_s 0.8 s and max_lost_s 0.4 s make keepalive_s 0.2 s.
    # Before, no frame reached either model after hold_s, and the anomaly's event lapsed.
    detector = AnomalyDetector(threshold=0.1)
    try:
        run_camera(static_file, detector, anomaly={"model": SCENE_MODEL, "end_after_s": 0.8})
    finally:
        detector.close()

    # Then the anomaly model still sees one frame in each 0.2 s after hold_s.
    scene_runs = sum(1 for model in detector.models if model.name == SCENE_MODEL)
    assert scene_runs >= GATED_RUNS + (RUN_S - 0.5) / 0.2 / 3, scene_runs


def test_a_moving_scene_runs_the_model_on_every_sampled_frame(
    moving_file: Path, detector: OnnxDetector
) -> None:
    runs, sampled, drops = run_camera(moving_file, detector)
    assert sampled >= DETECT_FPS * RUN_S * 0.8
    assert drops.get(DropReason.MOTION, 0) == 0
    assert runs == sampled


def test_gating_off_runs_the_model_on_a_static_scene_too(static_file: Path, detector: OnnxDetector) -> None:
    runs, sampled, drops = run_camera(static_file, detector, motion=False)
    assert drops.get(DropReason.MOTION, 0) == 0
    assert runs == sampled
    assert runs >= DETECT_FPS * RUN_S * 0.8


def test_a_tree_in_the_wind_runs_the_model_on_every_frame_until_it_is_masked(
    tree_file: Path, detector: OnnxDetector
) -> None:
    runs, sampled, _ = run_camera(tree_file, detector)
    assert sampled >= DETECT_FPS * RUN_S * 0.8
    assert runs >= sampled * 0.9, (runs, sampled)

    masked = OnnxDetector()
    try:
        runs, sampled, drops = run_camera(tree_file, masked, mask=TREE_MASK)
    finally:
        masked.close()
    # Then, masked, the scene is as still as the static one: its first frame and the hold after.
    assert sampled >= DETECT_FPS * RUN_S * 0.8
    assert runs <= GATED_RUNS, (runs, sampled)
    assert drops.get(DropReason.MOTION, 0) >= sampled - runs
