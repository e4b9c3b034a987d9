"""The demo clip the embedded default config runs: its ground truth matches what is in it, and the
face-detector finds the face on every frame where it is visible, and nowhere else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.config import default_config
from gateway.domain import Box, Image, ModelReference
from gateway.inference.postprocess import decode
from gateway.inference.preprocess import prepare
from tests.integration.vision.conftest import ShippedModel
from tests.integration.vision.test_face_detector import iou

FPS = 10
WIDTH, HEIGHT = 640, 360


def read_frames(path: Path) -> list[Image]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(np.asarray(frame, dtype=np.uint8))
    capture.release()
    return frames


@pytest.fixture(scope="module")
def clip(built: Path) -> tuple[list[Image], list[dict[str, Any]]]:
    frames = read_frames(built / "build" / "demo" / "clip.mp4")
    truth = json.loads((built / "build" / "demo" / "clip.truth.json").read_text(encoding="utf-8"))
    return frames, truth


def interval(truth: list[dict[str, Any]], kind: str) -> tuple[float, float, Box]:
    (item,) = [entry for entry in truth if entry["kind"] == kind]
    return item["start_s"], item["end_s"], tuple(item["box"])


def test_the_embedded_default_runs_this_clip_with_face_detector(built: Path) -> None:
    (camera,) = default_config(built).cameras
    assert Path(camera.url) == built / "build" / "demo" / "clip.mp4"
    assert camera.model == ModelReference("face-detector")


def test_clip_is_twenty_seconds_of_640x360_at_10_fps(clip: tuple[list[Image], list[dict[str, Any]]]) -> None:
    frames, truth = clip
    assert len(frames) == 200
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    assert sorted(entry["kind"] for entry in truth) == ["face", "object"]
    for entry in truth:
        assert set(entry) == {"kind", "start_s", "end_s", "box"}
        assert 0 < entry["start_s"] < entry["end_s"] < 20
        x1, y1, x2, y2 = entry["box"]
        assert 0 <= x1 < x2 <= 1
        assert 0 <= y1 < y2 <= 1


def test_the_scene_changes_exactly_inside_the_truth_intervals(
    clip: tuple[list[Image], list[dict[str, Any]]],
) -> None:
    # Given an empty frame of the fixed scene, every other frame differs from it by noise only,
    # except inside a truth box while its interval lasts.
    frames, truth = clip
    empty = frames[0].astype(np.int16)
    for index, frame in enumerate(frames):
        t = index / FPS
        difference = np.abs(frame.astype(np.int16) - empty).max(axis=2)
        changed = difference > 40
        inside = np.zeros(changed.shape, dtype=bool)
        for entry in truth:
            x1, y1, x2, y2 = entry["box"]
            box = (slice(round(y1 * HEIGHT), round(y2 * HEIGHT)), slice(round(x1 * WIDTH), round(x2 * WIDTH)))
            if entry["start_s"] <= t < entry["end_s"]:
                assert changed[box].mean() > 0.3, f"{entry['kind']} missing at {t:.1f} s"
                inside[box] = True
        if not inside.any():
            assert changed.mean() < 0.001, f"unexpected change at {t:.1f} s"


def test_face_detector_finds_the_face_exactly_while_it_is_visible(
    clip: tuple[list[Image], list[dict[str, Any]]], face_detector: ShippedModel
) -> None:
    frames, truth = clip
    start, end, face_box = interval(truth, "face")
    preprocess = face_detector.config.preprocess
    assert preprocess is not None
    rule_min_score = default_config().cameras[0].rules[0].min_score
    for first in range(0, len(frames), 8):
        chunk = frames[first : first + 8]
        prepared = [prepare(frame, preprocess) for frame in chunk]
        output = face_detector.engine.run({"images": np.stack([item for item, _ in prepared])})["output0"]
        for offset, (_, letterbox) in enumerate(prepared):
            t = (first + offset) / FPS
            detections, _ = decode({"output0": output[offset]}, letterbox, face_detector.config.postprocess)
            if start <= t < end:
                assert len(detections) == 1, f"at {t:.1f} s: {detections}"
                (face,) = detections
                assert face.score >= rule_min_score
                assert face.box is not None
                assert iou(face.box, face_box) > 0.7, f"at {t:.1f} s: {face.box} vs {face_box}"
            else:
                assert detections == (), f"at {t:.1f} s: {detections}"
