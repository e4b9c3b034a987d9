"""A model directory the service's user may not read (mode 000) is named unreadable, not missing.

The repository skipped a directory it could not list without registering the model, so ``/v1/status``
and ``check-config --models`` said the scene-anomaly model "is not in the model repository" of a
directory an operator could see right there. The real command on a real directory, in a child
process that gives up root's right to read past a mode, as the service's own user has none.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.child_limits import held_to_file_modes
from tests.support.command import edge_gateway

CONFIG = """\
cameras:
  - id: hall
    url: rtsp://127.0.0.1:8554/hall
    anomaly:
      model: scene-hall
"""


def test_an_unreadable_anomaly_model_directory_is_named_unreadable(tmp_path: Path) -> None:
    # Given a repository whose scene-anomaly model's directory has mode 000
    models = tmp_path / "models"
    unreadable = models / "scene-hall"
    (unreadable / "1").mkdir(parents=True)
    (unreadable / "1" / "model.onnx").write_bytes(b"")
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    unreadable.chmod(0o000)
    try:
        # When the config is checked against it by a process the mode holds for
        child = edge_gateway(
            "check-config", str(config), "--models", str(models), cwd=tmp_path, prefix=held_to_file_modes()
        )
    finally:
        unreadable.chmod(0o755)

    # Then the model is named with why it cannot serve, not as one the repository lacks
    assert child.returncode == 2, child.stderr
    assert child.stderr.splitlines()[-1] == (
        f"{config}:5: cameras[0].anomaly.model: anomaly model scene-hall cannot serve: cannot read "
        "its directory: Permission denied; its scene is not scored until it can"
    )
