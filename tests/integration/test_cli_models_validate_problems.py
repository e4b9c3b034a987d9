"""``models validate`` prints a model.yaml's problems one to a line, as ``check-config`` prints a
config's, and ``models list`` on its one row after "; ": joined into one line, they ran on with a
backslash and an n between them. Runs the real ``edge-gateway`` on a real repository: one model of
BYTES tensors, which the gateway does not serve (refused at load, where it was ready and every
request to it a 400), beside a good one."""

from __future__ import annotations

from pathlib import Path

from tests.support.command import edge_gateway
from tests.support.onnx_models import write_affine_model

REFUSED = "BYTES (string) tensors are not served: the gateway takes BOOL and numeric tensors"


def repository_with_strings(tmp_path: Path) -> Path:
    """A repository of a good model and one of BYTES tensors (two problems); the latter's model.yaml."""
    repository = tmp_path / "models"
    write_affine_model(repository, "good")
    write_affine_model(repository, "strings")
    yaml_file = repository / "strings" / "model.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("FP32", "BYTES"))
    return yaml_file


def test_models_list_runs_a_models_problems_on_after_semicolons_on_its_row(tmp_path: Path) -> None:
    yaml_file = repository_with_strings(tmp_path)
    result = edge_gateway("models", "list", "--repository", str(yaml_file.parent.parent), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("strings ")]
    assert len(rows) == 1, result.stdout
    assert rows[0].endswith(
        f": inputs[0].datatype: {REFUSED}; {yaml_file}:10: outputs[0].datatype: {REFUSED}"
    )
    assert "\\n" not in rows[0]


def test_each_problem_of_a_model_is_a_line_of_its_own(tmp_path: Path) -> None:
    yaml_file = repository_with_strings(tmp_path)
    repository = yaml_file.parent.parent
    result = edge_gateway("models", "validate", "--repository", str(repository), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "ok      good:1 (CPUExecutionProvider)" in result.stdout
    lines = [line for line in result.stderr.splitlines() if "strings" in line]
    assert lines[-2].startswith(f"FAILED  strings:1: model.yaml: {yaml_file}:"), result.stderr
    assert lines[-2].endswith(f": inputs[0].datatype: {REFUSED}"), result.stderr
    assert lines[-1].startswith(f"        {yaml_file}:"), result.stderr
    assert lines[-1].endswith(f": outputs[0].datatype: {REFUSED}"), result.stderr
    assert "\\n" not in lines[-2]
