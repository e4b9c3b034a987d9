"""MemoryDenyWriteExecute=yes and SystemCallFilter= in edge-gateway.service hold for the real native stack.

The probe switches on the kernel's write-xor-execute rule (PR_SET_MDWE) in a fresh process, checks
that it refuses a W+X mapping, then runs ONNX Runtime, OpenCV, numpy, SQLite, aiohttp, paho and
pydantic (or a GStreamer decode pipeline) for real.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("mdwe_probe.py")
REPOSITORY = Path(__file__).resolve().parents[3]
SYSTEM_PYTHON = "/usr/bin/python3"  # PyGObject and GStreamer come from Debian packages (build/setup.sh)
EXIT_NO_MDWE = 3


def run_probe(python: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [python, str(PROBE), *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode == EXIT_NO_MDWE:
        pytest.skip(f"this kernel has no PR_SET_MDWE (Linux 6.3+): {result.stderr.strip()}")
    return result


def test_onnxruntime_opencv_and_the_python_stack_need_no_writable_executable_memory() -> None:
    result = run_probe(sys.executable)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mdwe-probe: ok"


def test_gstreamer_decoding_needs_no_writable_executable_memory() -> None:
    result = run_probe(SYSTEM_PYTHON, "--gstreamer")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mdwe-probe: ok"


def test_the_probe_fails_when_code_needs_writable_executable_memory(tmp_path: Path) -> None:
    # A stand-in for a JIT: once the rule is on, mapping W+X memory must fail the process.
    jit = tmp_path / "jit.py"
    jit.write_text(
        "import mmap, sys\n"
        f"sys.path.insert(0, {str(PROBE.parent)!r})\n"
        "import mdwe_probe\n"
        "assert mdwe_probe.enable_mdwe()\n"
        "mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(jit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "PermissionError" in result.stderr


def unit_system_call_filter() -> list[str]:
    lines = (REPOSITORY / "systemd" / "edge-gateway.service").read_text(encoding="utf-8").splitlines()
    return [line.removeprefix("SystemCallFilter=") for line in lines if line.startswith("SystemCallFilter=")]


def filter_options(lines: list[str]) -> list[str]:
    return [option for line in lines for option in ("--system-call-filter", line)]


def test_the_stack_runs_cleanly_under_the_units_system_call_filter() -> None:
    lines = unit_system_call_filter()
    assert lines[0] == "@system-service"
    result = run_probe(sys.executable, *filter_options(lines))
    assert result.returncode == 0, result.stderr
    # Nothing degraded quietly either: ONNX Runtime logs each refused call it cares about.
    assert result.stderr == ""


def test_the_system_call_filter_emulation_bites() -> None:
    # Without @network-io the HTTP round trip must fail, or the test above proves nothing.
    result = run_probe(sys.executable, *filter_options([*unit_system_call_filter(), "~@network-io"]))
    assert result.returncode == 1
    assert "PermissionError" in result.stderr
