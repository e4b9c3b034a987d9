"""build/install-service.sh into a temporary root: what it lays down, and that a second run keeps
configs and secrets while restoring the units it owns."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
SECRETS = (
    "signing-key",
    "api-tokens",
    "mqtt-password",
    "audit-mqtt-password",
    "audit-pgpass",
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install-service.sh runs as root (as CI does)")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The script and systemd/ as in the repository, with a small model repository beside them."""
    copy = tmp_path / "checkout"
    (copy / "build").mkdir(parents=True)
    shutil.copy2(REPOSITORY / "build" / "install-service.sh", copy / "build")
    shutil.copytree(REPOSITORY / "systemd", copy / "systemd")
    model = copy / "models" / "detector" / "1"
    model.mkdir(parents=True)
    (model / "model.onnx").write_bytes(b"not really a model")
    (copy / "models" / "detector" / "model.yaml").write_text("name: detector\n", encoding="utf-8")
    return copy


def install(checkout: Path, root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(checkout / "build" / "install-service.sh"), "--root", str(root), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def account(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise AssertionError(f"no user {name} in {root}/etc/passwd")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_lays_down_users_secrets_configs_models_and_units(checkout: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    venv = Path(sys.prefix)
    install(checkout, root, "--venv", str(venv), "--gpu", "jetson", "--enable")

    uid, gid = account(root, "edge-gateway")
    _, audit_gid = account(root, "edge-gateway-audit")
    credentials = root / "etc" / "edge-gateway" / "credentials"
    assert mode(credentials) == 0o700
    for secret in SECRETS:
        assert mode(credentials / secret) == 0o600, secret
    signing_key = (credentials / "signing-key").read_text(encoding="ascii").strip()
    assert len(bytes.fromhex(signing_key)) == 32
    assert len((credentials / "api-tokens").read_text(encoding="ascii").split()) == 1
    assert (credentials / "mqtt-password").read_bytes() == b""

    config = root / "etc" / "edge-gateway" / "gateway.yaml"
    assert config.read_text(encoding="utf-8") == (checkout / "systemd" / "gateway.example.yaml").read_text()
    assert (mode(config), config.stat().st_uid, config.stat().st_gid) == (0o640, 0, gid)
    # The audit reads its device keys in place, so that a reload (SIGHUP) sees an edit.
    keys = root / "etc" / "edge-gateway" / "audit-device-keys"
    assert (mode(keys), keys.stat().st_uid, keys.stat().st_gid) == (0o640, 0, audit_gid)
    models = root / "var" / "lib" / "edge-gateway" / "models"
    assert (models / "detector" / "1" / "model.onnx").read_bytes() == b"not really a model"
    assert (models.stat().st_uid, models.parent.stat().st_uid, mode(models.parent)) == (uid, uid, 0o700)

    units = root / "etc" / "systemd" / "system"
    service = (units / "edge-gateway.service").read_text(encoding="utf-8")
    assert f"ExecStart={venv}/bin/edge-gateway serve --config /etc/edge-gateway/gateway.yaml" in service
    assert "/opt/edge-gateway/venv" not in service
    assert (units / "edge-gateway.service.d" / "gpu.conf").read_bytes() == (
        checkout / "systemd" / "gpu" / "jetson.conf"
    ).read_bytes()
    assert (units / "multi-user.target.wants" / "edge-gateway.service").is_symlink()
    assert not (units / "multi-user.target.wants" / "edge-gateway-audit.service").exists()

    # What was installed is itself a valid unit with its drop-in.
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(units / "edge-gateway.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")


def test_a_second_run_keeps_configs_and_secrets_and_restores_its_own_files(
    checkout: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    install(checkout, root, "--gpu", "nvidia")
    etc = root / "etc" / "edge-gateway"
    units = root / "etc" / "systemd" / "system"
    (etc / "gateway.yaml").write_text("device_id: edited\n", encoding="utf-8")
    (etc / "credentials" / "mqtt-password").write_text("s3cret", encoding="utf-8")
    signing_key = (etc / "credentials" / "signing-key").read_bytes()
    (units / "edge-gateway.service").write_text("[Service]\nExecStart=/bin/false\n", encoding="utf-8")
    passwd = (root / "etc" / "passwd").read_text(encoding="utf-8")
    (root / "var" / "lib" / "edge-gateway" / "models" / "detector" / "2").mkdir()  # enrolled meanwhile

    second = install(checkout, root)  # no --gpu: the GPU drop-in goes away

    assert "created" not in second.stdout
    assert (etc / "gateway.yaml").read_text(encoding="utf-8") == "device_id: edited\n"
    assert (etc / "credentials" / "mqtt-password").read_text(encoding="utf-8") == "s3cret"
    assert (etc / "credentials" / "signing-key").read_bytes() == signing_key
    assert (root / "etc" / "passwd").read_text(encoding="utf-8") == passwd
    assert (root / "var" / "lib" / "edge-gateway" / "models" / "detector" / "2").is_dir()
    assert (units / "edge-gateway.service").read_bytes() == (
        checkout / "systemd" / "edge-gateway.service"
    ).read_bytes()
    assert not (units / "edge-gateway.service.d").exists()


def test_bad_options_are_refused(checkout: Path, tmp_path: Path) -> None:
    for options in (["--gpu", "amd"], ["--venv", "relative/venv"], ["--frobnicate"]):
        result = subprocess.run(
            ["bash", str(checkout / "build" / "install-service.sh"), "--root", str(tmp_path), *options],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, options
    assert not (tmp_path / "etc").exists()
