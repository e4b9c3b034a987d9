"""A model directory's name is whatever was copied into the repository. One that is no model name
(a newline, an ANSI escape, a space, a non-ASCII letter) is skipped, as no config or request could
name it: ``models list``, ``models validate`` and the log say so with the name shown escaped, one line
per model, never as a line of its own or as an escape sequence for the operator's terminal. Runs the
real ``edge-gateway`` on real model files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.domain import NAME_RULE
from tests.support.command import edge_gateway
from tests.support.onnx_models import write_affine_model, write_broken_model

FORGED = "2026-01-01 00:00:00,000 INFO gateway.api.app: forged"
FORGING_NAME = f"evil\n{FORGED}\x1b[31m"
ESCAPE_NAME = "bad\x1b[2Jname"
SPACED_NAME = "with space"
ACCENTED_NAME = "caméra"
VALID_NAME = "good"
SKIPPED = f"skipped: not a model name; a model name is {NAME_RULE}"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    repository = tmp_path / "models"
    write_affine_model(repository, VALID_NAME)
    write_affine_model(repository, FORGING_NAME)
    write_broken_model(repository, ESCAPE_NAME)
    write_affine_model(repository, SPACED_NAME)
    write_affine_model(repository, ACCENTED_NAME)
    path = tmp_path / "gateway.yaml"
    config = {
        "device_id": "names-box",
        "state_dir": str(tmp_path / "state"),
        "models": {"repository": str(repository), "warmup_batches": 1},
        "inference": {"workers": 1, "providers": ["cpu"]},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def assert_no_forged_line(output: str) -> None:
    for line in output.splitlines():
        assert not line.startswith(FORGED), output
    assert "\x1b" not in output


ESCAPED = {
    "bad\\x1b[2Jname",
    f"evil\\n{FORGED}\\x1b[31m",
    SPACED_NAME,
    ACCENTED_NAME,
}


def test_models_list_shows_each_skipped_name_escaped_on_its_own_row(config_file: Path) -> None:
    result = edge_gateway(
        "--log-level", "info", "models", "list", "--config", str(config_file), cwd=config_file.parent
    )

    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert len(rows) == 6, rows  # the header, the valid model's version and one row per skipped name
    assert rows[1].startswith(f"{VALID_NAME} ")
    assert " ready " in rows[1]
    skipped = rows[2:]
    for name in ESCAPED:
        row = next(row for row in skipped if row.startswith(f"{name} "))
        assert " skipped " in row, row
        assert row.endswith(SKIPPED), row
    assert_no_forged_line(result.stdout)
    assert_no_forged_line(result.stderr)


def test_models_validate_fails_each_skipped_name_shown_escaped(config_file: Path) -> None:
    result = edge_gateway(
        "--log-level", "info", "models", "validate", "--config", str(config_file), cwd=config_file.parent
    )

    assert result.returncode == 1, result.stderr
    assert result.stdout == f"ok      {VALID_NAME}:1 (CPUExecutionProvider)\n"
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED  ")]
    assert sorted(failed) == sorted(f"FAILED  {name}: {SKIPPED}" for name in ESCAPED)
    assert_no_forged_line(result.stderr)


def test_the_log_warns_once_of_each_skipped_name_escaped_and_loads_none(config_file: Path) -> None:
    result = edge_gateway(
        "--log-level", "info", "models", "list", "--config", str(config_file), cwd=config_file.parent
    )

    log = result.stderr.splitlines()
    warnings = [line for line in log if " is skipped: a model name is " in line]
    repository = config_file.parent / "models"
    assert sorted(warnings) == sorted(
        next(line for line in log if f"model directory '{name}' in {repository} is skipped: " in line)
        for name in ESCAPED
    )
    assert all(" WARNING " in line and line.endswith(NAME_RULE) for line in warnings)
    ready = [line for line in log if " ready on " in line]
    assert len(ready) == 1, log
    assert f"model {VALID_NAME}:1 ready on CPUExecutionProvider" in ready[0]
    assert not [line for line in log if " failed to load" in line], log
    assert_no_forged_line(result.stderr)
