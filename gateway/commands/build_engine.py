"""``edge-gateway build-engine --model NAME[:VERSION] [--fp16 | --int8 --calib DIR] [--max-batch N]``:
build a native TensorRT engine from the repository's ONNX file into ``state_dir/engines``.

Exit codes: 0 built (or already cached), 1 the build failed, 2 bad arguments, config or model, or no
usable TensorRT/GPU on this box (one line saying how to install it).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from gateway.commands.redaction import print_problems
from gateway.config import GatewayConfig, default_config, load_config
from gateway.domain import ModelReference
from gateway.errors import ConfigError, InvalidInputError, ModelLoadError
from gateway.inference import preprocess
from gateway.inference.engine_cache import (
    EngineCache,
    EngineKey,
    Precision,
    model_digest,
    profile_for,
)
from gateway.inference.engines.selection import current_device
from gateway.inference.engines.tensorrt_build import DEFAULT_WORKSPACE_BYTES, BuildRequest, build_engine
from gateway.inference.model_config import ModelConfig, load_model_config
from gateway.inference.repository_files import CONFIG_FILE
from gateway.inference.slots import MODEL_FILE, version_of
from gateway.wording import versions_listed

EXIT_FAILED = 1
EXIT_INVALID = 2
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PROG = "edge-gateway build-engine"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "build-engine",
        help="build a TensorRT engine from a model's ONNX file (cached by GPU, TensorRT and precision)",
    )
    parser.add_argument("--model", required=True, metavar="NAME[:VERSION]", help="default version: highest")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="allow fp16 kernels")
    precision.add_argument("--int8", action="store_true", help="int8, calibrated on --calib frames")
    parser.add_argument("--calib", type=Path, metavar="DIR", help="folder of JPEG/PNG frames (with --int8)")
    parser.add_argument(
        "--calib-limit", type=_positive, default=256, metavar="N", help="frames used, at most"
    )
    parser.add_argument("--max-batch", type=_positive, metavar="N", help="default: model.yaml max_batch_size")
    parser.add_argument(
        "--workspace-mb", type=_positive, default=DEFAULT_WORKSPACE_BYTES >> 20, help="builder scratch memory"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if a matching engine is cached")
    parser.add_argument("--config", type=Path, help="gateway config (default: the embedded default)")
    parser.add_argument("--repository", type=Path, help="model repository (default: from the config)")
    parser.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


class UsageError(Exception):
    """A problem with the arguments, config or model: one line, exit 2."""


def run(arguments: argparse.Namespace) -> int:
    try:
        return _run(arguments)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ConfigError as exc:
        print_problems(exc.problems)
        return EXIT_INVALID


def _run(arguments: argparse.Namespace) -> int:
    if arguments.int8 and arguments.calib is None:
        raise UsageError("--int8 needs --calib DIR (frames to calibrate on)")
    if arguments.calib is not None and not arguments.int8:
        raise UsageError("--calib is only used with --int8")
    config: GatewayConfig = load_config(arguments.config) if arguments.config else default_config()
    root: Path = arguments.repository or config.models.repository
    onnx_path, reference = resolve_model(root, arguments.model)
    model = load_model_config(onnx_path.parent.parent / CONFIG_FILE)
    precision: Precision = "int8" if arguments.int8 else "fp16" if arguments.fp16 else "fp32"
    max_batch: int = arguments.max_batch or model.max_batch_size
    try:
        profile = profile_for(model, max_batch)
    except ModelLoadError as exc:
        raise UsageError(f"{reference}: {exc}") from exc
    frames = (
        calibration_frames(arguments.calib, model, arguments.calib_limit, max_batch) if arguments.int8 else []
    )
    try:
        device = current_device()
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from exc
    key = EngineKey(device, precision, profile, model_digest(onnx_path))
    cache = EngineCache(config.state_dir / "engines")
    cached = cache.get(key)
    if cached is not None and not arguments.force:
        print(f"{reference}: {precision} engine for {device.name} already cached: {cached}")
        return 0
    print(
        f"{reference}: building a {precision} engine for {device.name} (sm {device.compute_capability}, "
        f"TensorRT {device.tensorrt_version}), batch 1..{max_batch}",
        file=sys.stderr,
    )
    request = BuildRequest(
        onnx_path,
        precision,
        profile,
        workspace_bytes=arguments.workspace_mb << 20,
        calibration=calibration_batches(frames, model, max_batch),
    )
    progress = ProgressBar(sys.stderr)
    try:
        plan = build_engine(request, progress)
    except ModelLoadError as exc:
        progress.close()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    progress.close()
    path = cache.store(key, plan)
    print(f"{reference}: {len(plan) / 1e6:.1f} MB engine cached at {path}")
    if precision == "int8" and not config.inference.tensorrt_int8:
        print("set inference.tensorrt_int8: true for the gateway to use int8 engines", file=sys.stderr)
    if precision == "fp16" and not config.inference.tensorrt_fp16:
        print("inference.tensorrt_fp16 is false: the gateway will not use this fp16 engine", file=sys.stderr)
    if "tensorrt" not in config.inference.providers:
        print("inference.providers lacks tensorrt: onnxruntime_onnx models will not use it", file=sys.stderr)
    return 0


def resolve_model(root: Path, reference: str) -> tuple[Path, str]:
    """The ONNX file of ``name[:version]`` (highest version by default) and its ``name:version``."""
    try:
        parsed = ModelReference.parse(reference)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    name, version = parsed.name, parsed.version
    if not root.is_dir():
        raise UsageError(f"model repository {root} is not a directory")
    directory = root / name
    if not (directory / CONFIG_FILE).is_file():
        known = sorted(entry.name for entry in root.iterdir() if (entry / CONFIG_FILE).is_file())
        raise UsageError(f"unknown model {name!r} in {root} (models: {', '.join(known) or 'none'})")
    # The repository's own reading of version directories: ``07`` is no version (it is not served).
    found = ((version_of(entry.name), entry) for entry in directory.iterdir())
    versions = sorted(
        number for number, entry in found if number is not None and (entry / MODEL_FILE).is_file()
    )
    if version is None:
        if not versions:
            raise UsageError(f"model {name!r} has no version with a {MODEL_FILE}")
        version = versions[-1]
    elif version not in versions:
        listed = versions_listed(versions)
        raise UsageError(f"model {name!r} has no version {version} with a {MODEL_FILE} (versions: {listed})")
    return directory / str(version) / MODEL_FILE, f"{name}:{version}"


def calibration_frames(directory: Path, model: ModelConfig, limit: int, batch: int) -> list[Path]:
    """Up to ``limit`` image files of ``directory``, a whole number of batches of them."""
    if model.preprocess is None:
        raise UsageError("int8 calibration needs a preprocess section in model.yaml")
    if len(model.inputs) != 1:
        raise UsageError("int8 calibration supports models with one input")
    if not directory.is_dir():
        raise UsageError(f"--calib {directory} is not a directory")
    frames = sorted(path for path in directory.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if len(frames) < batch:
        raise UsageError(
            f"--calib {directory} has {len(frames)} frames; at least one batch ({batch}) is needed"
        )
    return frames[: len(frames) - len(frames) % batch]


def calibration_batches(frames: list[Path], model: ModelConfig, batch: int) -> Iterator[npt.NDArray[Any]]:
    """Preprocessed exactly as camera frames are, one batch at a time."""
    assert model.preprocess is not None or not frames  # checked by calibration_frames
    for start in range(0, len(frames), batch):
        items = []
        for path in frames[start : start + batch]:
            try:
                image = preprocess.decode_image(path.read_bytes())
            except (OSError, InvalidInputError) as exc:
                raise ModelLoadError(f"calibration frame {path}: {exc}") from exc
            assert model.preprocess is not None
            items.append(preprocess.prepare(image, model.preprocess)[0])
        yield np.stack(items)


class ProgressBar:
    """TensorRT's build phases as a bar redrawn in place on a terminal, as phase lines otherwise.

    Called from TensorRT's builder threads, hence the lock."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._interactive = stream.isatty()
        self._lock = threading.Lock()
        self._phases: dict[str, tuple[int, int, int]] = {}
        """phase -> (steps, completed, depth)"""
        self._drawn = False

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        with self._lock:
            depth = self._phases[parent][2] + 1 if parent in self._phases else 0
            self._phases[phase] = (max(steps, 1), 0, depth)
            if self._interactive:
                self._draw(phase)
            elif depth <= 1:
                print(f"{'  ' * depth}{phase} ...", file=self._stream, flush=True)

    def step_complete(self, phase: str, step: int) -> None:
        with self._lock:
            if phase in self._phases:
                steps, _, depth = self._phases[phase]
                self._phases[phase] = (steps, min(step + 1, steps), depth)
                if self._interactive:
                    self._draw(phase)

    def phase_finish(self, phase: str) -> None:
        with self._lock:
            _, _, depth = self._phases.pop(phase, (1, 1, 0))
            if self._interactive:
                self._draw(phase, finished=True)
            elif depth == 0:
                print(f"{phase}: done", file=self._stream, flush=True)

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                self._stream.write("\n")
                self._stream.flush()
                self._drawn = False

    def _draw(self, phase: str, *, finished: bool = False) -> None:
        top = next((name for name, (_, _, depth) in self._phases.items() if depth == 0), phase)
        steps, completed, _ = self._phases.get(top, (1, 1, 0))
        fraction = 1.0 if finished and top == phase else completed / steps
        filled = int(self.WIDTH * fraction)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"\r[{bar}] {fraction:4.0%} {top}" + (f" > {phase}" if phase != top else "")
        self._stream.write(line[:160].ljust(100))
        self._stream.flush()
        self._drawn = True
