"""``models validate`` prints a model.yaml's problems one to a line, as ``check-config`` prints a
config's: joined into one line, they ran on with a backslash and an n between them. Runs the real
``edge-gateway`` on a real repository: one model of BYTES tensors, which the gateway does not serve
(refused at load, where it was ready and every request to it a 400), beside a good one."""

from __future__ import annotations

from pathlib import Path

from tests.support.command import edge_gateway
from tests.support.onnx_models import write_affine_model


def test_each_problem_of_a_model_is_a_line_of_its_own(tmp_path: Path) -> None:
    repository = tmp_path / "models"
    write_affine_model(repository, "good")
    write_affine_model(repository, "strings")
    yaml_file = repository / "strings" / "model.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("FP32", "BYTES"))
    result = edge_gateway("models", "validate", "--repository", str(repository), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "ok      good:1 (CPUExecutionProvider)" in result.stdout
    refused = "BYTES (string) tensors are not served: the gateway takes BOOL and numeric tensors"
    lines = [line for line in result.stderr.splitlines() if "strings" in line]
    assert lines[-2].startswith(f"FAILED  strings:1: model.yaml: {yaml_file}:"), result.stderr
    assert lines[-2].endswith(f": inputs[0].datatype: {refused}"), result.stderr
    assert lines[-1].startswith(f"        {yaml_file}:"), result.stderr
    assert lines[-1].endswith(f": outputs[0].datatype: {refused}"), result.stderr
    assert "\\n" not in lines[-2]
