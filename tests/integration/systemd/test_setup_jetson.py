"""build/setup-jetson.sh only runs on JetPack 6; anywhere else it must stop before touching
anything and say why (the JetPack path itself is documented in systemd/README.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "build" / "setup-jetson.sh"


def test_the_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)


@pytest.mark.skipif(Path("/etc/nv_tegra_release").exists(), reason="this is a Jetson")
def test_it_refuses_a_machine_that_is_not_a_jetson(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["bash", str(SCRIPT), "--venv", str(venv)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "not a Jetson" in result.stderr
    assert not venv.exists()


def test_unknown_options_are_refused() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
