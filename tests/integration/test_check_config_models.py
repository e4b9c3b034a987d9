"""``check-config --models DIR``: a config's cameras against a model repository (the shipped one, on
disk), each problem on its camera's line, as ``serve`` would find them at start: a misspelt model, a
version pinned that is not there, a scene-anomaly model it lacks, a rule following only labels its
model does not report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.cli import main
from tests.support.serve import REPOSITORY

MODELS = REPOSITORY / "models"

CONFIG = """\
cameras:
  - id: gate
    url: rtsp://127.0.0.1:8554/gate
    model: face-detecter
  - id: door
    url: rtsp://127.0.0.1:8554/door
    model: face-detector:3
  - id: yard
    url: rtsp://127.0.0.1:8554/yard
    model: face-detector
    rules:
      - name: people
        labels: [person]
      - name: faces
        labels: [FACE_FEMALE, person]
  - id: hall
    url: rtsp://127.0.0.1:8554/hall
    anomaly:
      model: scene-anomaly-hall
"""


def test_each_camera_the_repository_cannot_serve_is_named_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    # Without --models the repository is not read: the config itself is sound
    assert main(["check-config", str(config)]) == 0
    assert capsys.readouterr().out.startswith(f"{config}: ok (4 cameras, device ")

    assert main(["check-config", str(config), "--models", str(MODELS)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{config}:4: cameras[0].model: model face-detecter is not in the model repository (did you mean "
        "face-detector? models: face-detector, yolov8n-bench); the camera detects nothing until it is",
        f"{config}:7: cameras[1].model: model face-detector has no version 3 in the model repository "
        "(versions: 1); the camera detects nothing until it is",
        # The rule following one label the model has is no problem (a rule shared by cameras on
        # different models is written that way)
        f"{config}:11: cameras[2].rules: rule people follows labels person that model face-detector does "
        "not have (it can never fire; its labels: FACE_FEMALE, FACE_MALE)",
        f"{config}:19: cameras[3].anomaly.model: anomaly model scene-anomaly-hall is not in the model "
        "repository (models: face-detector, yolov8n-bench); its scene is not scored until it is",
    ]


def test_a_config_the_repository_serves_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.yaml"
    served = (
        CONFIG.replace("face-detecter", "face-detector")
        .replace(":3", ":1")
        .replace("[person]", "[FACE_MALE]")
    )
    config.write_text(served[: served.index("  - id: hall")])  # no scene-anomaly model is shipped
    assert main(["check-config", str(config), "--models", str(MODELS)]) == 0
    assert capsys.readouterr().err == ""


def test_a_models_path_that_is_no_directory_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    assert main(["check-config", str(config), "--models", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'none'}: --models: not a directory\n"


def test_a_default_version_the_model_lacks_is_named_for_a_camera_that_names_no_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the shipped face detector, its model.yaml routing a request without a version to 2
    models = tmp_path / "models"
    shutil.copytree(MODELS / "face-detector", models / "face-detector")
    manifest = models / "face-detector" / "model.yaml"
    manifest.write_text(manifest.read_text() + "routing: {default_version: 2}\n")
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "cameras:\n"
        "  - {id: gate, url: rtsp://127.0.0.1:8554/gate, model: face-detector}\n"
        "  - {id: door, url: rtsp://127.0.0.1:8554/door, model: face-detector:1}\n"
    )
    # Then the camera routed to it is named; the one pinning version 1 is served
    assert main(["check-config", str(config), "--models", str(models)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{config}:2: cameras[0].model: model face-detector routes to its default_version 2, which is "
        "not in the model repository (versions: 1); the camera detects nothing until it is"
    ]
