"""``edge-gateway build-engine`` without a GPU: argument, config and model errors, the one-line
answer when TensorRT is missing, caching around the build, calibration frames, progress output."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from gateway.commands import build_engine as command
from gateway.errors import ModelLoadError
from gateway.inference.engine_cache import EngineCache, EngineKey, profile_for, sha256_file
from gateway.inference.engines.tensorrt_build import BuildProgress, BuildRequest
from gateway.inference.model_config import load_model_config
from tests.support.onnx_models import write_affine_model, write_model_file, write_model_yaml
from tests.unit.gpu.conftest import ORIN, FakeTensorrt, profile


@pytest.fixture
def config_file(tmp_path: Path, models_root: Path) -> Path:
    write_affine_model(models_root, "detector")
    path = tmp_path / "gateway.yaml"
    path.write_text(
        yaml.safe_dump({"state_dir": str(tmp_path / "state"), "models": {"repository": str(models_root)}})
    )
    return path


def run(config_file: Path, *arguments: str) -> int:
    """As ``edge-gateway build-engine --config FILE ...`` parses and runs it."""
    parser = argparse.ArgumentParser(prog="edge-gateway")
    command.register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["build-engine", "--config", str(config_file), *arguments])
    code: int = parsed.handler(parsed)
    return code


@pytest.fixture
def fake_builds(monkeypatch: pytest.MonkeyPatch, fake_tensorrt: FakeTensorrt) -> FakeTensorrt:
    """The CLI with TensorRT's device probe and builder recorded instead of run."""
    monkeypatch.setattr(command, "current_device", fake_tensorrt.device)
    monkeypatch.setattr(command, "build_engine", fake_tensorrt.build)
    return fake_tensorrt


@pytest.mark.parametrize(
    "arguments",
    [
        ["--model", "detector", "--fp16", "--int8"],
        ["--model", "detector", "--max-batch", "0"],
        ["--model", "detector", "--max-batch", "many"],
        ["--fp16"],
    ],
)
def test_argument_errors_exit_2(
    config_file: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(config_file, *arguments)
    assert exited.value.code == 2
    assert "build-engine: error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "detector", "--int8"], "--int8 needs --calib DIR"),
        (["--model", "detector", "--calib", "."], "--calib is only used with --int8"),
        (["--model", "nothing"], "unknown model 'nothing' in"),
        (["--model", "detector:7"], "model 'detector' has no version 7 with a model.onnx (versions: 1)"),
        (["--model", "detector:x"], "version must be a positive integer"),
        (["--model", "../etc"], "a model name is 1 to 64"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    config_file: Path, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, *arguments) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert err.startswith("edge-gateway build-engine: ")


def test_unknown_model_lists_the_models_there_are(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, "--model", "nothing") == 2
    assert "(models: detector)" in capsys.readouterr().err


def test_missing_tensorrt_is_one_line_with_how_to_install_and_exit_2(
    config_file: Path, without_tensorrt: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, "--model", "detector", "--fp16") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "python3-libnvinfer" in captured.err
    assert "pypi.nvidia.com" in captured.err
    assert "Traceback" not in captured.err


def test_a_bad_config_is_reported_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("state_dir: /tmp\ninference:\n  tensorrt_fp17: true\n")
    assert run(path, "--model", "detector") == 2
    assert f"{path}:3: inference.tensorrt_fp17" in capsys.readouterr().err


def test_a_dynamic_dimension_without_a_size_is_a_usage_error(
    config_file: Path, models_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_affine_model(models_root, "tokens", dims=(-1,))
    assert run(config_file, "--model", "tokens") == 2
    assert "'INPUT0' has dynamic dimensions [-1]" in capsys.readouterr().err


def test_builds_into_the_cache_then_finds_it_until_forced(
    config_file: Path,
    models_root: Path,
    tmp_path: Path,
    fake_builds: FakeTensorrt,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(config_file, "--model", "detector", "--fp16", "--max-batch", "4") == 0
    onnx_path = models_root / "detector" / "1" / "model.onnx"
    key = EngineKey(ORIN, "fp16", profile(4), sha256_file(onnx_path))
    path = EngineCache(tmp_path / "state" / "engines").get(key)
    assert path is not None
    assert path.read_bytes() == b"plan for fp16"
    assert f"engine cached at {path}" in capsys.readouterr().out
    # A second run finds it; --force rebuilds; another precision is another entry.
    assert run(config_file, "--model", "detector:1", "--fp16", "--max-batch", "4") == 0
    assert "already cached" in capsys.readouterr().out
    assert len(fake_builds.built) == 1
    assert run(config_file, "--model", "detector", "--fp16", "--max-batch", "4", "--force") == 0
    assert run(config_file, "--model", "detector", "--max-batch", "4") == 0
    assert [request.precision for request in fake_builds.built] == ["fp16", "fp16", "fp32"]
    assert len(list(EngineCache(tmp_path / "state" / "engines").entries())) == 2


def test_the_default_version_is_the_highest_and_max_batch_comes_from_model_yaml(
    config_file: Path, models_root: Path, fake_builds: FakeTensorrt, capsys: pytest.CaptureFixture[str]
) -> None:
    write_affine_model(models_root, "detector", 3, scale=5.0, write_yaml=False)
    assert run(config_file, "--model", "detector") == 0
    (request,) = fake_builds.built
    assert request.onnx_path == models_root / "detector" / "3" / "model.onnx"
    assert request.profile == profile(8)
    assert "detector:3" in capsys.readouterr().out


def test_a_failed_build_exits_1(
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_builds: FakeTensorrt,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing(request: BuildRequest, progress: BuildProgress) -> bytes:
        raise ModelLoadError("TensorRT failed to build an engine")

    monkeypatch.setattr(command, "build_engine", failing)
    assert run(config_file, "--model", "detector") == 1
    assert "TensorRT failed to build an engine" in capsys.readouterr().err


def write_image_model(models_root: Path) -> None:
    document: dict[str, Any] = {
        "max_batch_size": 2,
        "inputs": [{"name": "INPUT0", "dims": [3, 8, 8]}],
        "outputs": [{"name": "OUTPUT0", "dims": [3, 8, 8]}],
        "preprocess": {"width": 8, "height": 8},
    }
    write_model_yaml(models_root, "camera", document)
    source = write_affine_model(models_root, "scratch", dims=(3, 8, 8))
    write_model_file(models_root, "camera", 1, source.read_bytes())


def test_int8_calibrates_on_preprocessed_frames_in_whole_batches(
    config_file: Path, models_root: Path, tmp_path: Path, fake_builds: FakeTensorrt
) -> None:
    write_image_model(models_root)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(5):
        image = np.full((16, 24, 3), index * 40, np.uint8)
        assert cv2.imwrite(str(frames / f"{index}.jpg"), image)
    (frames / "notes.txt").write_text("not a frame")
    assert run(config_file, "--model", "camera", "--int8", "--calib", str(frames)) == 0
    (request,) = fake_builds.built
    assert request.precision == "int8"
    batches = list(request.calibration)
    assert [batch.shape for batch in batches] == [(2, 3, 8, 8), (2, 3, 8, 8)]  # 5 frames: 2 batches of 2
    assert all(batch.dtype == np.float32 for batch in batches)


def test_int8_without_enough_frames_is_a_usage_error(
    config_file: Path, models_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image_model(models_root)
    (tmp_path / "empty").mkdir()
    assert run(config_file, "--model", "camera", "--int8", "--calib", str(tmp_path / "empty")) == 2
    assert "has 0 frames" in capsys.readouterr().err


def test_int8_needs_a_preprocess_section(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, "--model", "detector", "--int8", "--calib", str(tmp_path)) == 2
    assert "needs a preprocess section" in capsys.readouterr().err


def test_progress_without_a_terminal_prints_phase_lines() -> None:
    stream = io.StringIO()
    progress = command.ProgressBar(stream)
    progress.phase_start("Building engine", None, 3)
    progress.phase_start("Tactic selection", "Building engine", 10)
    progress.step_complete("Tactic selection", 0)
    progress.phase_start("Kernel timing", "Tactic selection", 100)
    progress.phase_finish("Kernel timing")
    progress.phase_finish("Tactic selection")
    progress.phase_finish("Building engine")
    progress.close()
    assert stream.getvalue().splitlines() == [
        "Building engine ...",
        "  Tactic selection ...",
        "Building engine: done",
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_redraws_one_bar() -> None:
    stream = Terminal()
    progress = command.ProgressBar(stream)
    progress.phase_start("Building engine", None, 4)
    progress.step_complete("Building engine", 1)
    progress.phase_start("Tactic selection", "Building engine", 10)
    progress.phase_finish("Tactic selection")
    progress.phase_finish("Building engine")
    progress.close()
    frames = stream.getvalue().split("\r")[1:]
    assert "[###############---------------]  50% Building engine" in frames[1]
    assert "> Tactic selection" in frames[2]
    assert "100% Building engine" in frames[-1]
    assert stream.getvalue().endswith("\n")
    assert stream.getvalue().count("\n") == 1


def test_model_yaml_of_the_shipped_detector_gives_a_fixed_profile() -> None:
    shipped = Path(__file__).resolve().parents[3] / "models" / "yolov8n-bench" / "model.yaml"
    config = load_model_config(shipped)
    (shape,) = profile_for(config, config.max_batch_size)
    assert shape.maximum == (8, 3, 640, 640)
