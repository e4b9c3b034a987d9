"""Motion gating end to end: file cameras through the pipeline to a real ONNX Runtime model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.domain import CameraState, DropReason
from gateway.ingest.cameras import CameraPipeline
from tests.integration.ingest.conftest import OnnxDetector, wait_until
from tests.support import clips

DETECT_FPS = 10
RUN_S = 3.0


@pytest.fixture(scope="module")
def static_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clips.write_mp4(clips.static_clip(length=50), tmp_path_factory.mktemp("motion") / "static.mp4")


@pytest.fixture(scope="module")
def moving_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clips.write_mp4(clips.moving_clip(length=50), tmp_path_factory.mktemp("motion") / "moving.mp4")


def run_camera(
    path: Path, detector: OnnxDetector, motion: bool = True
) -> tuple[int, int, dict[DropReason, int]]:
    """Run one file camera for RUN_S seconds; return (model runs, sampled frames, drops)."""
    config = CameraConfig.model_validate(
        {
            "id": "clip",
            "url": str(path),
            "model": "bright",
            "detect_fps": DETECT_FPS,
            "motion": {"enabled": motion, "hold_s": 0.5},
        }
    )
    pipeline = CameraPipeline([config], detector, lambda _f, _r: None, CollectorRegistry())
    pipeline.start()
    try:
        assert wait_until(lambda: pipeline.cameras()[0].state is CameraState.STREAMING, 5)
        time.sleep(RUN_S)
    finally:
        assert pipeline.stop()
    assert wait_until(lambda: detector.runs == pipeline.processed("clip"), 2)
    drops = pipeline.cameras()[0].drops
    sampled = detector.runs + sum(
        count for reason, count in drops.items() if reason is not DropReason.SUPERSEDED
    )
    return detector.runs, sampled, dict(drops)


def test_a_static_scene_runs_the_model_on_almost_no_frames(static_file: Path, detector: OnnxDetector) -> None:
    runs, sampled, drops = run_camera(static_file, detector)
    # Then: only the first frame (which seeds the background) and the hold after it reach the model.
    assert sampled >= DETECT_FPS * RUN_S * 0.8
    assert runs <= 1 + DETECT_FPS * 0.5 + 1
    assert drops.get(DropReason.MOTION, 0) >= sampled - runs


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
