"""The runtime dependencies resolve as binary wheels on every box we ship to.

JetPack 6 is Ubuntu 22.04 (glibc 2.35) with CPython 3.10 on aarch64, where the newest wheels are
onnxruntime 1.23.2 and numpy 2.2.6; x86 servers run current CPython. pip resolves against PyPI
(a package registry, reachable from CI) without installing anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def runtime_requirements() -> list[str]:
    declared = requires("edge-gateway") or []
    return [text for text in declared if Requirement(text).marker is None]


def manylinux_tags(architecture: str, newest_glibc_minor: int) -> list[str]:
    tags = [f"manylinux_2_{minor}_{architecture}" for minor in range(17, newest_glibc_minor + 1)]
    return [*tags, f"manylinux2014_{architecture}"]


@pytest.mark.parametrize(
    ("python_version", "architecture", "glibc_minor"),
    [("3.10", "aarch64", 35), ("3.10", "x86_64", 35), ("3.12", "x86_64", 39), ("3.13", "x86_64", 39)],
)
def test_runtime_dependencies_resolve_as_binary_wheels(
    python_version: str, architecture: str, glibc_minor: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    platforms = [
        argument for tag in manylinux_tags(architecture, glibc_minor) for argument in ("--platform", tag)
    ]
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
        *platforms, "--target", str(tmp_path / "target"), "--report", str(report),
        *runtime_requirements(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    for requirement in map(Requirement, runtime_requirements()):
        name = canonicalize_name(requirement.name)
        assert name in resolved, requirement.name
        assert requirement.specifier.contains(resolved[name], prereleases=True)


def extra_requirements(extra: str) -> list[str]:
    declared = requires("edge-gateway") or []
    return [text.split(";")[0].strip() for text in declared if f'extra == "{extra}"' in text]


@pytest.mark.parametrize("architecture", ["aarch64", "x86_64"])
def test_uvloop_extra_resolves_as_binary_wheels_for_jetpack_python(architecture: str, tmp_path: Path) -> None:
    wanted = extra_requirements("uvloop")
    assert wanted, "the uvloop extra names uvloop"
    platforms = [argument for tag in manylinux_tags(architecture, 35) for argument in ("--platform", tag)]
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps",
        "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.10",
        *platforms, "--target", str(tmp_path / "target"), *wanted,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]


def test_gpu_extra_is_optional() -> None:
    declared = requires("edge-gateway") or []
    gpu = [text for text in declared if "onnxruntime-gpu" in text]
    assert gpu, "the gpu extra names onnxruntime-gpu"
    assert all(Requirement(text).marker is not None for text in gpu)
