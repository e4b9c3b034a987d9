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
from tests.support.onnx_models import write_affine_model, write_broken_model

COMMAND_TIMEOUT_S = 120.0


def command_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without JOURNAL_STREAM (it switches the log format), with
    ``overrides``. ORT_DISABLE_TELEMETRY is left out, so the command's own setting is what is tested."""
    unset = {"JOURNAL_STREAM", "ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME"}
    return {name: value for name, value in os.environ.items() if name not in unset} | overrides


UNWRITABLE_HOME = "/dev/null"
"""A HOME nothing can be created under, even by root: a service user's, or one under ProtectHome=."""


def edge_gateway(
    *arguments: str, cwd: Path, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *arguments],
        cwd=cwd,
        env=command_environment() if environment is None else environment,
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


LISTENING = " INFO gateway.api.app: HTTP API listening on "


def serve_until_listening(config_file: Path, environment: dict[str, str]) -> list[str]:
    """Run ``serve`` until its API listens, stop it with SIGTERM; every line it wrote on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config_file)],
        cwd=config_file.parent,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if LISTENING in line:
                break
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, remaining = process.communicate(timeout=30)
            lines.extend(remaining.splitlines(keepends=True))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    return lines


def test_serve_still_logs_at_info(config_file: Path) -> None:
    # Given the gateway started as a service, with no --log-level
    # When it is up, then the log says so at info
    lines = serve_until_listening(config_file, command_environment())

    assert any(LISTENING in line for line in lines), lines


def test_serve_says_nothing_of_onnx_runtime_telemetry_where_home_is_not_writable(config_file: Path) -> None:
    # Given a HOME nothing can be written under, as a service user's under ProtectHome=
    # When the gateway serves its models until it is stopped
    lines = serve_until_listening(config_file, command_environment(HOME=UNWRITABLE_HOME))

    # Then its log is the gateway's own: ONNX Runtime's telemetry, which would keep a device id in
    # HOME and warn where it cannot, is off
    assert any(LISTENING in line for line in lines), lines
    assert [line for line in lines if "onnxruntime" in line or "telemetry" in line] == []


@pytest.mark.parametrize(("action", "stream"), [("list", "stdout"), ("validate", "stderr")])
def test_models_commands_are_quiet_where_home_is_not_writable(
    config_file: Path, action: str, stream: str
) -> None:
    # Given a repository with a model ONNX Runtime cannot load, and a HOME nothing can be written under
    write_broken_model(config_file.parent / "models", "broken")

    # When the models are listed or validated
    result = edge_gateway(
        "models",
        action,
        "--config",
        str(config_file),
        cwd=config_file.parent,
        environment=command_environment(HOME=UNWRITABLE_HOME),
    )

    # Then ONNX Runtime's real error about the broken model is still shown, and nothing else is said
    # (but, on a box with a GPU, how to use it)
    assert result.returncode == (0 if action == "list" else 1), result.stderr
    shown = getattr(result, stream)
    assert "broken" in shown
    assert "Protobuf parsing failed" in shown, shown
    for line in result.stderr.splitlines():
        assert "broken:1" in line or "native TensorRT not used" in line, line


def test_check_config_is_quiet_where_home_is_not_writable(config_file: Path) -> None:
    result = edge_gateway(
        "check-config",
        str(config_file),
        cwd=config_file.parent,
        environment=command_environment(HOME=UNWRITABLE_HOME),
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_onnx_runtime_keeps_no_telemetry_device_id(config_file: Path, tmp_path: Path) -> None:
    # Given a writable HOME, where ONNX Runtime's telemetry would keep its device id
    home = tmp_path / "home"
    home.mkdir()

    # When models are loaded
    result = edge_gateway(
        "models",
        "list",
        "--config",
        str(config_file),
        cwd=tmp_path,
        environment=command_environment(HOME=str(home)),
    )

    # Then nothing was written there: the telemetry was never started
    assert result.returncode == 0, result.stderr
    assert list(home.rglob("*")) == []


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
