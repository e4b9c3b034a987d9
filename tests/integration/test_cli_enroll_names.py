"""``enroll`` refuses, before learning anything, a camera whose model name (``scene-anomaly-{id}``)
would be no model name: a camera id may have 64 characters, the prefix adds 14, and the repository
skips a directory whose name no config could reference, so the minutes of learning would write a
model nothing can use; the problem is at the id's line. Runs the real ``edge-gateway`` on real image files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

from gateway.domain import NAME_RULE
from tests.support.command import line_of

COMMAND_TIMEOUT_S = 120.0
EXIT_INVALID = 2
LONG_ID = "c" * 51  # the longest id whose model name fits is 50 characters


def test_a_camera_id_too_long_for_its_model_name_is_refused_before_learning(tmp_path: Path) -> None:
    # Given a camera with a valid 51-character id and a folder of normal frames
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(12):
        image = np.full((90, 160, 3), 40 + index * 8, dtype=np.uint8)
        cv2.rectangle(image, (10 + index * 5, 20), (40 + index * 5, 60), (200, 180, 20), -1)
        assert cv2.imwrite(str(frames / f"{index:02d}.png"), image)
    repository = tmp_path / "models"
    repository.mkdir()
    config = tmp_path / "gateway.yaml"
    camera = {"id": LONG_ID, "url": str(tmp_path / "clip.mp4")}
    config.write_text(
        yaml.safe_dump({"state_dir": str(tmp_path / "state"), "models": {"repository": str(repository)},
                        "cameras": [camera]}),
        encoding="utf-8",
    )  # fmt: skip

    # When it is enrolled
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "enroll", "--camera", LONG_ID, "--frames", str(frames),
         "--config", str(config)],
        env={name: value for name, value in os.environ.items() if name != "JOURNAL_STREAM"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )  # fmt: skip

    # Then it is refused at once, naming the camera, the name's length and the rule; nothing is written
    assert result.returncode == EXIT_INVALID, result.stderr
    assert result.stderr == (
        f"error: {config}:{line_of(config, '- id')}: cameras[0].id: camera '{LONG_ID}' cannot be enrolled: "
        f"its model name 'scene-anomaly-{LONG_ID}' is 65 characters, and a model name is {NAME_RULE}; "
        "give the camera a shorter id\n"
    )
    assert list(repository.iterdir()) == []
