"""One-shot commands print their answer and nothing else unless the user must act; the services log
at info. Each runs the real ``edge-gateway`` in a subprocess, with the default provider order
(tensorrt, cuda, cpu), so on a box without TensorRT every model goes through the TensorRT fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gateway.audit.store import AuditStore
from gateway.cli import build_parser
from gateway.inference.gpu_presence import gpu_present
from tests.support.onnx_models import write_affine_model

COMMAND_TIMEOUT_S = 120.0


def edge_gateway(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *arguments],
        cwd=cwd,
        env={name: value for name, value in os.environ.items() if name != "JOURNAL_STREAM"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    repository = tmp_path / "models"
    write_affine_model(repository, "first")
    write_affine_model(repository, "second")
    path = tmp_path / "gateway.yaml"
    config = {
        "device_id": "quiet-box",
        "state_dir": str(tmp_path / "state"),
        "http": {"port": 0},
        "models": {"repository": str(repository), "warmup_batches": 1},
        "inference": {"workers": 1},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def assert_quiet(stderr: str) -> None:
    """Nothing at all without a GPU; with one, only the warnings that say how to use it."""
    if not gpu_present():
        assert stderr == ""
        return
    for line in stderr.splitlines():
        assert " WARNING gateway.inference.engines.selection: native TensorRT not used" in line, line


@pytest.mark.parametrize("action", ["list", "validate"])
def test_models_commands_print_only_their_answer(config_file: Path, action: str) -> None:
    result = edge_gateway("models", action, "--config", str(config_file), cwd=config_file.parent)
    assert result.returncode == 0, result.stderr
    assert "first" in result.stdout
    assert "second" in result.stdout
    assert_quiet(result.stderr)


def test_log_level_brings_the_info_lines_back(config_file: Path) -> None:
    result = edge_gateway(
        "--log-level", "info", "models", "list", "--config", str(config_file), cwd=config_file.parent
    )
    assert result.returncode == 0, result.stderr
    assert " INFO gateway.inference.repository: model first:1 ready on " in result.stderr
    assert "native TensorRT not used" in result.stderr


def test_check_config_and_audit_verify_print_only_their_answer(config_file: Path, tmp_path: Path) -> None:
    checked = edge_gateway("check-config", str(config_file), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{config_file}: ok (0 cameras, device quiet-box)\n"
    assert checked.stderr == ""

    database = f"sqlite:///{tmp_path / 'audit.db'}"
    AuditStore.open(database, {}).close()
    verified = edge_gateway("audit", "verify", "--db", database, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout != ""
    assert verified.stderr == ""


def test_serve_still_logs_at_info(config_file: Path) -> None:
    # Given the gateway started as a service, with no --log-level
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config_file)],
        cwd=config_file.parent,
        env={name: value for name, value in os.environ.items() if name != "JOURNAL_STREAM"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # When it is up, then the log says so at info
        assert process.stderr is not None
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if " INFO gateway.api.app: HTTP API listening on " in line:
                break
        assert any(" INFO gateway.api.app: HTTP API listening on " in line for line in lines), lines
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            if process.stderr is not None:
                process.stderr.close()


@pytest.mark.parametrize(
    ("arguments", "level"),
    [
        (["serve"], "info"),
        (["audit", "serve", "--config", "audit.yaml"], "info"),
        (["audit", "verify", "--db", "sqlite:///audit.db"], None),
        (["check-config", "gateway.yaml"], None),
        (["enroll", "--camera", "gate"], None),
        (["models", "list"], None),
        (["build-engine", "--model", "detector"], None),
    ],
)
def test_only_the_services_default_to_info(arguments: list[str], level: str | None) -> None:
    parsed = build_parser().parse_args(arguments)
    assert getattr(parsed, "default_log_level", None) == level
    assert parsed.log_level is None
