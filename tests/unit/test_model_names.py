"""Cameras whose detector the model repository does not hold, named with the model likely meant."""

from __future__ import annotations

from typing import Any

from gateway.config import CameraConfig
from gateway.pipeline.model_names import missing_model_problems

MODELS = {"face-detector": [1, 2], "yolov8n-bench": [1]}


def camera(model: str | None, **extra: Any) -> CameraConfig:
    document = {"id": "gate", "url": "rtsp://127.0.0.1/gate", "model": model, **extra}
    return CameraConfig.model_validate(document)


def test_a_camera_on_a_model_the_repository_holds_is_no_problem() -> None:
    assert missing_model_problems([camera("face-detector"), camera("yolov8n-bench:1")], MODELS) == []


def test_a_misspelt_model_is_named_with_the_model_likely_meant() -> None:
    assert missing_model_problems([camera("face-detecter")], MODELS) == [
        "camera gate: model face-detecter is not in the model repository (did you mean face-detector? "
        "models: face-detector, yolov8n-bench); the camera detects nothing until it is"
    ]


def test_a_model_like_none_is_named_without_a_guess() -> None:
    (problem,) = missing_model_problems([camera("person-detector:2")], MODELS)
    assert problem.startswith("camera gate: model person-detector is not in the model repository (models: ")
    assert "did you mean" not in problem
    (problem,) = missing_model_problems([camera("person-detector")], {})
    assert "(models: none)" in problem


def test_a_disabled_camera_and_one_without_a_detector_are_not_checked() -> None:
    assert missing_model_problems([camera("face-detecter", enabled=False), camera(None)], MODELS) == []


def test_a_version_the_model_lacks_is_named_with_the_versions_it_has() -> None:
    assert missing_model_problems([camera("face-detector:7"), camera("face-detector:2")], MODELS) == [
        "camera gate: model face-detector has no version 7 in the model repository (versions: 1, 2); "
        "the camera detects nothing until it is"
    ]


def test_a_model_without_versions_is_a_problem_whether_or_not_the_camera_pins_one() -> None:
    versions: dict[str, list[int]] = {"face-detector": []}
    expected = (
        "camera gate: model face-detector has no version in the model repository; "
        "the camera detects nothing until one is added"
    )
    assert missing_model_problems([camera("face-detector")], versions) == [expected]
    assert missing_model_problems([camera("face-detector:1")], versions) == [expected]
