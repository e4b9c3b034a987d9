"""A model directory's name is whatever was copied into the repository: ``models list``, ``models
validate`` and the log show it escaped, one line per model, never as a line of its own or as an
escape sequence for the operator's terminal. Runs the real ``edge-gateway`` on real model files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.onnx_models import write_affine_model, write_broken_model

COMMAND_TIMEOUT_S = 120.0
FORGED = "2026-01-01 00:00:00,000 INFO gateway.api.app: forged"
READY_NAME = f"evil\n{FORGED}\x1b[31m"
BROKEN_NAME = "bad\x1b[2Jname"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    repository = tmp_path / "models"
    write_affine_model(repository, READY_NAME)
    write_broken_model(repository, BROKEN_NAME)
    path = tmp_path / "gateway.yaml"
    config = {
        "device_id": "names-box",
        "state_dir": str(tmp_path / "state"),
        "models": {"repository": str(repository), "warmup_batches": 1},
        "inference": {"workers": 1, "providers": ["cpu"]},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def edge_gateway(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--log-level", "info", *arguments],
        cwd=cwd,
        env={name: value for name, value in os.environ.items() if name != "JOURNAL_STREAM"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def assert_no_forged_line(output: str) -> None:
    for line in output.splitlines():
        assert not line.startswith(FORGED), output
    assert "\x1b" not in output


def test_models_list_shows_each_name_escaped_on_its_own_row(config_file: Path) -> None:
    result = edge_gateway("models", "list", "--config", str(config_file), cwd=config_file.parent)

    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert len(rows) == 3, rows  # the header and one row per model version
    assert rows[1].startswith("bad\\x1b[2Jname ")
    assert "/bad\\x1b[2Jname/1/model.onnx" in rows[1]  # the reason quotes the path
    assert rows[2].startswith(f"evil\\n{FORGED}\\x1b[31m ")
    assert_no_forged_line(result.stdout)
    assert_no_forged_line(result.stderr)


def test_models_validate_shows_each_name_escaped(config_file: Path) -> None:
    result = edge_gateway("models", "validate", "--config", str(config_file), cwd=config_file.parent)

    assert result.returncode == 1, result.stderr
    assert result.stdout == f"ok      evil\\n{FORGED}\\x1b[31m:1 (CPUExecutionProvider)\n"
    assert "FAILED  bad\\x1b[2Jname:1: " in result.stderr
    assert_no_forged_line(result.stderr)


def test_the_log_shows_each_name_escaped(config_file: Path) -> None:
    result = edge_gateway("models", "list", "--config", str(config_file), cwd=config_file.parent)

    log = result.stderr.splitlines()
    ready = [line for line in log if " ready on " in line]
    assert len(ready) == 1, log
    assert f"model evil\\n{FORGED}\\x1b[31m:1 ready on CPUExecutionProvider" in ready[0]
    assert ready[0].endswith(f"[model=evil\\n{FORGED}\\x1b[31m:1]")
    failed = [line for line in log if " failed to load" in line]
    assert len(failed) == 1, log
    assert "model bad\\x1b[2Jname:1 failed to load" in failed[0]
    assert_no_forged_line(result.stderr)
