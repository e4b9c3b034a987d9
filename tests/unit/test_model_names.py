"""Cameras whose detector the model repository cannot serve, named with what it holds: the model
likely meant, the versions there are, or why none of them loads."""

from __future__ import annotations

from typing import Any

from gateway.config import CameraConfig
from gateway.domain import ModelState, ModelVersionStatus
from gateway.pipeline.model_names import missing_model_problems


def status(
    name: str, version: int, state: ModelState = ModelState.READY, reason: str | None = None
) -> ModelVersionStatus:
    return ModelVersionStatus(name, version, state, reason, "onnxruntime_onnx", None, (), (), 8)


MODELS = [status("face-detector", 1), status("face-detector", 2), status("yolov8n-bench", 1)]


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
    (problem,) = missing_model_problems([camera("person-detector")], [])
    assert "(models: none)" in problem


def test_a_disabled_camera_and_one_without_a_detector_are_not_checked() -> None:
    assert missing_model_problems([camera("face-detecter", enabled=False), camera(None)], MODELS) == []


def test_a_version_the_model_lacks_is_named_with_the_versions_it_has() -> None:
    assert missing_model_problems([camera("face-detector:7"), camera("face-detector:2")], MODELS) == [
        "camera gate: model face-detector has no version 7 in the model repository (versions: 1, 2); "
        "the camera detects nothing until it is"
    ]


def test_a_model_that_cannot_serve_at_all_says_why_whether_or_not_the_camera_pins_a_version() -> None:
    statuses = [status("face-detector", 0, ModelState.FAILED, "model has no versions")]
    expected = (
        "camera gate: model face-detector cannot serve: model has no versions; "
        "the camera detects nothing until it can"
    )
    assert missing_model_problems([camera("face-detector")], statuses) == [expected]
    assert missing_model_problems([camera("face-detector:1")], statuses) == [expected]


def test_a_model_none_of_whose_versions_loads_names_the_newest_ones_failure() -> None:
    statuses = [
        status("face-detector", 1, ModelState.FAILED, "INVALID_PROTOBUF"),
        status("face-detector", 2, ModelState.FAILED, "out of memory"),
    ]
    assert missing_model_problems([camera("face-detector")], statuses) == [
        "camera gate: model face-detector:2 failed to load: out of memory; "
        "the camera detects nothing until a version loads"
    ]
    assert missing_model_problems([camera("face-detector:1")], statuses) == [
        "camera gate: model face-detector:1 failed to load: INVALID_PROTOBUF; "
        "the camera detects nothing until a version loads"
    ]


def test_a_version_that_loads_or_is_loading_is_enough() -> None:
    statuses = [
        status("face-detector", 1, ModelState.FAILED, "INVALID_PROTOBUF"),
        status("face-detector", 2, ModelState.LOADING),
    ]
    assert missing_model_problems([camera("face-detector")], statuses) == []
    (problem,) = missing_model_problems([camera("face-detector:1")], statuses)
    assert problem.startswith("camera gate: model face-detector:1 failed to load: INVALID_PROTOBUF")


def test_a_scene_anomaly_model_is_checked_as_the_detector_is() -> None:
    statuses = [*MODELS, status("scene-anomaly", 1)]
    watched = camera(None, anomaly={"model": "scene-anomlay"})
    assert missing_model_problems([watched], statuses) == [
        "camera gate: anomaly model scene-anomlay is not in the model repository (did you mean "
        "scene-anomaly? models: face-detector, scene-anomaly, yolov8n-bench); its scene is not scored "
        "until it is"
    ]
    both = camera("face-detector:9", anomaly={"model": "scene-anomaly:1"})
    (problem,) = missing_model_problems([both], statuses)
    assert problem.startswith("camera gate: model face-detector has no version 9 in the model repository")
    assert missing_model_problems([camera(None, anomaly={"model": "scene-anomaly"})], statuses) == []


def test_a_camera_naming_no_version_is_checked_against_its_models_default_version() -> None:
    statuses = [
        status("face-detector", 1),
        status("face-detector", 2, ModelState.FAILED, "out of memory"),
    ]
    # Version 1 loads, but the model routes a camera that names no version to version 2
    assert missing_model_problems([camera("face-detector")], statuses, {"face-detector": 2}) == [
        "camera gate: model face-detector:2 (its default_version) failed to load: out of memory; "
        "the camera detects nothing until it loads"
    ]
    assert missing_model_problems([camera("face-detector")], statuses, {"face-detector": 3}) == [
        "camera gate: model face-detector routes to its default_version 3, which is not in the model "
        "repository (versions: 1, 2); the camera detects nothing until it is"
    ]
    # A camera pinning a version is not routed, and a default that loads is no problem
    assert missing_model_problems([camera("face-detector:1")], statuses, {"face-detector": 2}) == []
    assert missing_model_problems([camera("face-detector")], statuses, {"face-detector": 1}) == []
    assert missing_model_problems([camera("face-detector")], statuses, {"other": 2}) == []
