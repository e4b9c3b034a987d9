"""``enroll --config -`` reads the config from standard input, as ``check-config -`` does: enroll
reads its config once and takes nothing else from standard input. Before, it looked for a file named
``-`` (and said there was none, or read one that happened to be there). Runs the real
``edge-gateway`` on real image files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from tests.support.command import edge_gateway

EXIT_INVALID = 2


def normal_frames(folder: Path) -> Path:
    folder.mkdir()
    for index in range(12):
        image = np.full((90, 160, 3), 40 + index * 8, dtype=np.uint8)
        cv2.rectangle(image, (10 + index * 5, 20), (40 + index * 5, 60), (200, 180, 20), -1)
        assert cv2.imwrite(str(folder / f"{index:02d}.png"), image)
    return folder


def piped_config(tmp_path: Path) -> str:
    """A config naming its repository relative to the working directory, as a pipeline gives it."""
    camera = {"id": "gate", "url": str(tmp_path / "clip.mp4")}
    return yaml.safe_dump({"state_dir": "state", "models": {"repository": "models"}, "cameras": [camera]})


def test_enroll_reads_its_config_from_standard_input_for_a_dash(tmp_path: Path) -> None:
    # Given a folder of normal frames, a repository, and a file named - that is no config
    frames = normal_frames(tmp_path / "frames")
    (tmp_path / "models").mkdir()
    (tmp_path / "-").write_text("not: [a config\n", encoding="utf-8")

    # When the camera is enrolled with its config piped in
    enrolled = edge_gateway(
        "enroll", "--camera", "gate", "--frames", str(frames), "--config", "-",
        cwd=tmp_path, stdin=piped_config(tmp_path),
    )  # fmt: skip

    # Then the model is written to the repository that config names, from the working directory
    assert enrolled.returncode == 0, enrolled.stderr
    assert enrolled.stdout.startswith("scene-anomaly-gate:1 "), enrolled.stdout
    assert (tmp_path / "models" / "scene-anomaly-gate" / "1").is_dir()


def test_enroll_names_standard_input_in_its_problems(tmp_path: Path) -> None:
    frames = normal_frames(tmp_path / "frames")

    refused = edge_gateway(
        "enroll", "--camera", "yard", "--frames", str(frames), "--config", "-",
        cwd=tmp_path, stdin=piped_config(tmp_path),
    )  # fmt: skip

    assert refused.returncode == EXIT_INVALID, refused.stdout
    assert refused.stderr.startswith("error: <stdin>"), refused.stderr
    assert "'yard'" in refused.stderr, refused.stderr
