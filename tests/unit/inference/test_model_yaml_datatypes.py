"""A model.yaml tensor of BYTES (strings) is a load error naming its line: the gateway takes and
answers BOOL and numeric tensors only, and such a model loaded, was ready, and every request to it
was a 400. Its one input refused is that problem alone: pydantic, counting only the inputs that
validated, also said the model had none ("inputs: needs at least 1 entry, got 0")."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.inference.model_config import load_model_config

MODEL_YAML = """\
platform: onnxruntime_onnx
max_batch_size: 4
inputs:
  - {name: x, datatype: INPUT, dims: [DIMS]}
outputs:
  - {name: y, datatype: OUTPUT, dims: [4]}
"""


def _load(tmp_path: Path, input_type: str, output_type: str = "FP32", dims: str = "4") -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(
        MODEL_YAML.replace("INPUT", input_type).replace("OUTPUT", output_type).replace("DIMS", dims)
    )
    load_model_config(path)
    return path


@pytest.mark.parametrize("datatype", ["BOOL", "UINT8", "INT64", "FP16", "FP32", "FP64"])
def test_bool_and_numeric_tensors_load(tmp_path: Path, datatype: str) -> None:
    _load(tmp_path, datatype, datatype)


def test_a_bytes_tensor_is_refused_on_its_line_and_alone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, "BYTES", "BYTES")
    path = tmp_path / "model.yaml"
    refused = "BYTES (string) tensors are not served: the gateway takes BOOL and numeric tensors"
    assert [str(problem) for problem in raised.value.problems] == [
        f"{path}:4: inputs[0].datatype: {refused}",
        f"{path}:6: outputs[0].datatype: {refused}",
    ]


def test_an_inputs_one_bad_entry_is_not_also_said_to_be_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, "FP32", dims='"a"')
    problems = [str(problem) for problem in raised.value.problems]
    assert len(problems) == 1, problems
    assert "inputs[0].dims[0]: expected a number, got the string 'a'" in problems[0]


def test_a_misspelt_datatype_is_named_with_the_choices_and_the_one_likely_meant(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, "FP23", "5")
    path = tmp_path / "model.yaml"
    choices = (
        "'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', "
        "'FP32', 'FP64' or 'BYTES'"
    )
    assert [str(problem) for problem in raised.value.problems] == [
        f"{path}:4: inputs[0].datatype: must be {choices}, got 'FP23'; did you mean 'FP32'?",
        f"{path}:6: outputs[0].datatype: must be {choices}, got 5",
    ]
