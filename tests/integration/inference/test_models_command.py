"""``edge-gateway models list|validate`` on real model files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from tests.support.onnx_models import write_affine_model, write_broken_model


def test_validate_passes_a_good_repository(models_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_affine_model(models_root)
    write_affine_model(models_root, version=2, write_yaml=False)

    assert main(["models", "validate", "--repository", str(models_root)]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "ok      affine:1 (CPUExecutionProvider)",
        "ok      affine:2 (CPUExecutionProvider)",
    ]


def test_validate_names_the_broken_version_and_exits_1(
    models_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_affine_model(models_root)
    write_broken_model(models_root)

    assert main(["models", "validate", "--repository", str(models_root)]) == 1

    captured = capsys.readouterr()
    assert "ok      affine:1" in captured.out
    assert "FAILED  broken:1: " in captured.err
    assert "Protobuf parsing failed" in captured.err


def test_list_shows_every_version_with_state_and_tensors(
    models_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_affine_model(models_root, dims=(2, 3))
    write_broken_model(models_root)

    assert main(["models", "list", "--repository", str(models_root)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["MODEL", "VERSION", "STATE", "PROVIDER", "MAX_BATCH"]
    assert lines[1].split()[:7] == [
        "affine",
        "1",
        "ready",
        "CPUExecutionProvider",
        "8",
        "INPUT0:FP32[-1,2,3]",
        "OUTPUT0:FP32[-1,2,3]",
    ]
    assert lines[2].split()[:3] == ["broken", "1", "failed"]


def test_missing_repository_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "validate", "--repository", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_the_embedded_defaults_repository_missing_says_how_to_name_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a working directory that is no checkout (no ./models) and neither option
    monkeypatch.chdir(tmp_path)
    assert main(["models", "list"]) == 2
    assert capsys.readouterr().err.endswith(
        "models: not a directory (the embedded default's, under the working directory; "
        "pass --config FILE or --repository DIR)\n"
    )
    # while a repository named says only that it is not one
    assert main(["models", "list", "--repository", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'nowhere'}: not a directory\n"
