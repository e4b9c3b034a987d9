"""The unit files pass `systemd-analyze verify` silently and stay within the exposure budget.

`systemd-analyze verify` only warns (exit 0) about unknown keys or bad values, so any output fails.
It also insists that ExecStart= binaries exist, so each test verifies a copy of the unit whose
/opt/edge-gateway/venv is replaced by this test run's venv, which has the edge-gateway script.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import EXPANDABLE, load_audit_config, load_config

REPOSITORY = Path(__file__).resolve().parents[3]
SOURCES = REPOSITORY / "systemd"
INSTALLED_VENV = "/opt/edge-gateway/venv"
UNITS = ("edge-gateway.service", "edge-gateway-audit.service")
GPU_DROPINS = ("nvidia", "jetson")
MAX_EXPOSURE = 2.5


def this_venv() -> Path:
    venv = Path(sys.prefix)
    assert (venv / "bin" / "edge-gateway").exists(), "the package must be installed in the test venv"
    return venv


def staged_unit(directory: Path, unit: str, dropin: str | None = None) -> Path:
    """A copy of ``unit`` (and a drop-in) in ``directory`` whose binaries exist on this machine."""
    text = (SOURCES / unit).read_text(encoding="utf-8").replace(INSTALLED_VENV, str(this_venv()))
    path = directory / unit
    path.write_text(text, encoding="utf-8")
    if dropin is not None:
        dropins = directory / f"{unit}.d"
        dropins.mkdir()
        shutil.copyfile(SOURCES / "gpu" / f"{dropin}.conf", dropins / "gpu.conf")
    return path


def analyze(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""},
    )


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.mark.parametrize("unit", UNITS)
def test_verify_prints_nothing(unit: str, tmp_path: Path) -> None:
    result = analyze("verify", str(staged_unit(tmp_path, unit)))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("dropin", GPU_DROPINS)
def test_verify_prints_nothing_with_each_gpu_dropin(dropin: str, tmp_path: Path) -> None:
    result = analyze("verify", str(staged_unit(tmp_path, "edge-gateway.service", dropin)))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_does_report_an_unknown_key(tmp_path: Path) -> None:
    # The check above would be worthless if a typo went unreported.
    path = staged_unit(tmp_path, "edge-gateway.service")
    path.write_text(
        path.read_text(encoding="utf-8").replace("UMask=0077", "UMask=0077\nProtectEverything=yes")
    )
    result = analyze("verify", str(path))
    assert "Unknown key 'ProtectEverything'" in result.stdout + result.stderr


def exposure(path: Path) -> float:
    result = analyze("security", "--offline=true", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout
    return float(match.group(1))


@pytest.mark.parametrize(
    ("unit", "dropin"),
    [("edge-gateway.service", None), ("edge-gateway-audit.service", None)]
    + [("edge-gateway.service", dropin) for dropin in GPU_DROPINS],
)
def test_security_exposure_is_within_budget(unit: str, dropin: str | None, tmp_path: Path) -> None:
    assert exposure(staged_unit(tmp_path, unit, dropin)) <= MAX_EXPOSURE


def test_exposure_reflects_the_hardening(tmp_path: Path) -> None:
    # Without its sandboxing lines the same unit must score far worse, or the budget proves nothing.
    path = staged_unit(tmp_path, "edge-gateway.service")
    text = path.read_text(encoding="utf-8")
    kept = text[: text.index("NoNewPrivileges=")] + text[text.index("[Install]") :]
    path.write_text(kept, encoding="utf-8")
    assert exposure(path) > 5.0


def test_gateway_unit_lifecycle_settings() -> None:
    settings = unit_settings(SOURCES / "edge-gateway.service")
    assert settings["Type"] == ["notify"]
    assert settings["NotifyAccess"] == ["main"]
    assert settings["WatchdogSec"] == ["30"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["StartLimitBurst"] == ["5"]
    assert settings["User"] == ["edge-gateway"]
    assert settings["StateDirectory"] == ["edge-gateway"]
    config = "/etc/edge-gateway/gateway.yaml"
    assert settings["ExecStartPre"] == [f"{INSTALLED_VENV}/bin/edge-gateway check-config {config}"]
    assert settings["ExecStart"] == [f"{INSTALLED_VENV}/bin/edge-gateway serve --config {config}"]
    assert settings["ExecReload"][-1] == "/bin/kill -HUP $MAINPID"
    # Stopping must leave the gateway its 10 s to flush the outbox.
    assert int(settings["TimeoutStopSec"][0]) > 10


def test_audit_unit_lifecycle_settings() -> None:
    settings = unit_settings(SOURCES / "edge-gateway-audit.service")
    assert settings["Type"] == ["notify"]
    assert settings["NotifyAccess"] == ["main"]
    assert settings["User"] == ["edge-gateway-audit"]
    config = "/etc/edge-gateway/audit.yaml"
    assert settings["ExecStart"] == [f"{INSTALLED_VENV}/bin/edge-gateway audit serve --config {config}"]
    # Checked before each start and before each reload's signal, as the gateway's config is
    check = f"{INSTALLED_VENV}/bin/edge-gateway audit check-config --config {config}"
    assert settings["ExecStartPre"] == [check]
    assert settings["ExecReload"] == [check, "/bin/kill -HUP $MAINPID"]


@pytest.mark.parametrize("unit", UNITS)
def test_hardening_settings(unit: str) -> None:
    settings = unit_settings(SOURCES / unit)
    for key in (
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "RestrictRealtime",
        "RestrictNamespaces",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
    ):
        assert settings[key] == ["yes"], key
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["CapabilityBoundingSet"] == [""]
    assert settings["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert settings["SystemCallFilter"][0] == "@system-service"
    assert settings["SystemCallArchitectures"] == ["native"]
    assert settings["UMask"] == ["0077"]


@pytest.mark.parametrize(
    ("unit", "example"),
    [("edge-gateway.service", "gateway.example.yaml"), ("edge-gateway-audit.service", "audit.example.yaml")],
)
def test_every_credential_the_example_config_names_is_loaded_by_its_unit(unit: str, example: str) -> None:
    loaded = {value.split(":", 1)[0] for value in unit_settings(SOURCES / unit)["LoadCredential"]}
    text = (SOURCES / example).read_text(encoding="utf-8")
    named = set(re.findall(r"\$\{CREDENTIALS_DIRECTORY\}/([a-z][a-z0-9.-]*)", text))
    assert named
    assert named <= loaded


def test_example_configs_are_valid_under_the_unit_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/edge-gateway")
    gateway = load_config(SOURCES / "gateway.example.yaml")
    assert gateway.http.tokens_file == tmp_path / "credentials" / "api-tokens"
    assert gateway.models.repository == Path("/var/lib/edge-gateway/models")
    audit = load_audit_config(SOURCES / "audit.example.yaml")
    assert audit.keys_file == Path("/etc/edge-gateway/audit-device-keys")


def test_the_shipped_example_is_checked_before_install_with_env() -> None:
    # Given a shell outside systemd: none of the service directories is set
    outside = {name: value for name, value in os.environ.items() if name not in EXPANDABLE}
    check = [str(this_venv() / "bin" / "edge-gateway"), "check-config", str(SOURCES / "gateway.example.yaml")]

    # When the example is checked as is, then each unset directory is named with its line
    plain = subprocess.run(check, env=outside, capture_output=True, text=True, timeout=60, check=False)
    assert plain.returncode == 2
    assert "gateway.example.yaml:8: state_dir: ${STATE_DIRECTORY} is not set" in plain.stderr

    # When the unit's directories are given with --env, then it passes, printing only its verdict
    given = [
        "--env",
        "STATE_DIRECTORY=/var/lib/edge-gateway",
        "--env",
        "CREDENTIALS_DIRECTORY=/etc/edge-gateway/credentials",
    ]
    checked = subprocess.run(
        [*check, *given], env=outside, capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert (
        checked.stdout
        == f"{SOURCES / 'gateway.example.yaml'}: ok (0 cameras, device {socket.gethostname()})\n"
    )
    assert checked.stderr == ""
