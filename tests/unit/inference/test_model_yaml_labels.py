"""A model.yaml label holding a lone surrogate (a double-quoted ``\\ud800`` escape, or an emoji written
as a ``\\u`` surrogate pair, which YAML does not join) is refused at load, naming the model's file, the
label's index and its line. Before, it loaded, and the outbox refused every alert of that label once
the label was first detected. A label given to two classes is refused too: ``keep_labels`` kept the
first class of it only."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.inference.model_config import load_model_config

MODEL_YAML = """\
inputs:
  - {name: images, dims: [3, 64, 64]}
outputs:
  - {name: output0, dims: [7, 84]}
preprocess: {width: 64, height: 64}
postprocess:
  kind: yolov8
  labels:
    - person
    - LABEL
    - car
  keep_labels: [KEEP]
"""


def model_yaml(tmp_path: Path, label: str, keep: str = "person") -> Path:
    path = tmp_path / "person-detector" / "model.yaml"
    path.parent.mkdir()
    path.write_text(MODEL_YAML.replace("LABEL", label).replace("KEEP", keep), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("label", "shown", "surrogate"),
    [
        (r'"person\ud800"', r"person\ud800", r"\ud800"),
        (r'"smile \ud83d\ude00"', r"smile \ud83d\ude00", r"\ud83d"),
        (r'"\udcff"', r"\udcff", r"\udcff"),
    ],
)
def test_a_label_holding_a_lone_surrogate_is_refused_at_its_line(
    tmp_path: Path, label: str, shown: str, surrogate: str
) -> None:
    path = model_yaml(tmp_path, label)

    with pytest.raises(ConfigError) as refused:
        load_model_config(path)

    assert str(refused.value) == (
        f"{path}:10: postprocess.labels[1]: '{shown}' holds a lone surrogate ({surrogate}), which "
        "UTF-8 text cannot carry: write the character itself or one \\U escape (YAML does not join a \\u "
        "surrogate pair)"
    )


def test_a_kept_label_holding_a_lone_surrogate_is_refused_at_its_line(tmp_path: Path) -> None:
    path = model_yaml(tmp_path, "bag", keep=r'person, "\ud800"')

    with pytest.raises(ConfigError) as refused:
        load_model_config(path)

    assert str(refused.value).startswith(f"{path}:12: postprocess.keep_labels[1]: '\\ud800' holds")


def test_labels_of_any_script_and_escapes_of_whole_characters_load(tmp_path: Path) -> None:
    path = model_yaml(tmp_path, r'"smile \U0001F600 人"')

    config = load_model_config(path)

    assert config.postprocess.labels == ("person", "smile \U0001f600 人", "car")


def test_a_repeated_label_is_refused_at_the_second_ones_line(tmp_path: Path) -> None:
    # keep_labels: [person] kept the first class named person only, dropping the other's detections
    path = model_yaml(tmp_path, "person")

    with pytest.raises(ConfigError) as refused:
        load_model_config(path)

    assert str(refused.value) == (
        f"{path}:10: postprocess.labels[1]: label 'person' is also labels[0]: each class needs a label of "
        "its own (merge the classes in the model, or name them apart)"
    )
