"""``serve`` checks each anomaly frame against what the camera's model was enrolled on: a camera
enrolled on the demo clip in colour whose stream turns grey (night infrared) has its frames reported
as not scored, in the log and in ``/metrics``, rather than judged by a model that would find the
whole frame anomalous. The check lives in the decider; this is its wiring in the running gateway."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import yaml

from gateway.domain import Image
from gateway.enroll import enroll_frames
from gateway.inference.model_config import load_model_config
from tests.support.serve import CLIP, Process

ENROLLED_FRAMES = 40


def colour_frames(count: int) -> list[Image]:
    capture = cv2.VideoCapture(str(CLIP))
    frames: list[Image] = []
    try:
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(np.asarray(frame, dtype=np.uint8))
    finally:
        capture.release()
    assert len(frames) == count, f"{CLIP} has fewer than {count} frames"
    return frames


def grey_copy(source: Path, target: Path) -> None:
    """The clip as a night camera sends it: the same scene, luma only (neutral chroma)."""
    grey = "format=gray,format=yuv420p"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-t", "8", "-vf", grey, str(target)],
        check=True,
    )


def test_serve_reports_grey_frames_of_a_colour_enrollment_as_not_scored(tmp_path: Path) -> None:
    repository = tmp_path / "models"
    enrolled = enroll_frames(colour_frames(ENROLLED_FRAMES), camera_id="demo", repository=repository)
    assert load_model_config(enrolled.model_yaml).preprocess is not None
    grey = tmp_path / "night.mp4"
    grey_copy(CLIP, grey)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device_id": "night",
                "state_dir": str(tmp_path / "state"),
                "http": {"port": 0},
                "models": {"repository": str(repository)},
                "cameras": [
                    {
                        "id": "demo",
                        "url": str(grey),
                        "detect_fps": 5,
                        "motion": {"enabled": False},
                        "anomaly": {"model": "scene-anomaly-demo", "min_frames": 3},
                    }
                ],
            }
        )
    )
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    try:
        port = gateway.api_port()
        gateway.wait_for_log("anomaly frames not scored", timeout_s=60)
        assert "re-enroll the camera for them" in gateway.output()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        assert 'edge_gateway_anomaly_frame_mismatch{camera="demo"} 1.0' in metrics
        # and /v1/status names the camera and why, as information: the gateway stays healthy
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=10) as answer:
            status = json.loads(answer.read())
        assert [entry["camera"] for entry in status["anomaly_unscored"]] == ["demo"], status
        assert status["anomaly_unscored"][0]["reason"].startswith("frames are grey"), status
        assert not any("demo" in problem for problem in status["problems"]), status
        assert gateway.terminate() == 0, gateway.output()
    finally:
        gateway.kill()
