"""A model.yaml number written as a string or a boolean is a load error naming its line, as in the
gateway's own config: before, ``score_threshold: "0.5"`` was taken as 0.5 and ``max_batch_size:
yes`` as a batch of one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.inference.model_config import load_model_config

MODEL_YAML = """\
inputs:
  - {name: images, dims: [3, 64, 64]}
outputs:
  - {name: output0, dims: [6, 84]}
max_batch_size: MAX_BATCH
preprocess: {width: 64, height: 64}
postprocess:
  kind: yolov8
  labels: [person, car]
  score_threshold: SCORE
"""


def _write(tmp_path: Path, score: str, max_batch: str = "4") -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(MODEL_YAML.replace("SCORE", score).replace("MAX_BATCH", max_batch))
    return path


@pytest.mark.parametrize(
    ("score", "max_batch", "line", "expected"),
    [
        ('"0.5"', "4", 10, "got the string '0.5'"),
        ("true", "4", 10, "got the boolean true"),
        ("0.5", "yes", 5, "got the boolean true"),
        ("0.5", '"4"', 5, "got the string '4'"),
    ],
)
def test_a_quoted_number_or_a_boolean_is_refused_with_its_line(
    tmp_path: Path, score: str, max_batch: str, line: int, expected: str
) -> None:
    path = _write(tmp_path, score, max_batch)
    with pytest.raises(ConfigError) as raised:
        load_model_config(path)
    assert f"{path}:{line}" in str(raised.value)
    assert expected in str(raised.value)


def test_numbers_written_as_numbers_load(tmp_path: Path) -> None:
    config = load_model_config(_write(tmp_path, "1e-1", "4"))
    assert (config.postprocess.score_threshold, config.max_batch_size) == (0.1, 4)


def test_max_detections_is_bounded(tmp_path: Path) -> None:
    path = _write(tmp_path, "0.5")
    path.write_text(path.read_text() + "  max_detections: 5000\n")
    with pytest.raises(ConfigError, match="max_detections: must be at most 1000, got "):
        load_model_config(path)
