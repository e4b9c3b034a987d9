"""Build a TensorRT engine from an ONNX file (TensorRT 10 builder API).

One optimisation profile covers the batch range (and fixes any image size, see
``engine_cache.profile_for``); fp16 sets the FP16 builder flag; int8 uses entropy calibration on
preprocessed sample frames (with FP16 allowed too, for the layers int8 cannot run). Progress comes
from TensorRT's ``IProgressMonitor`` where this TensorRT has it (10.0+), otherwise as phase lines.
Building takes minutes on a Jetson; the result goes to the engine cache, never rebuilt per start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from gateway.errors import ModelLoadError
from gateway.inference.engine_cache import Precision, ShapeRange
from gateway.inference.engines.cuda_runtime import PinnedBuffers, Stream, import_cuda_runtime
from gateway.inference.engines.tensorrt import import_tensorrt

logger = logging.getLogger(__name__)

DEFAULT_WORKSPACE_BYTES = 1 << 30


class BuildProgress(Protocol):
    """Where build progress goes; called from TensorRT's builder threads, so it must be thread-safe."""

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None: ...

    def step_complete(self, phase: str, step: int) -> None: ...

    def phase_finish(self, phase: str) -> None: ...


@dataclass(frozen=True, slots=True)
class BuildRequest:
    onnx_path: Path
    precision: Precision
    profile: tuple[ShapeRange, ...]
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES
    tf32: bool = True
    """TensorRT's default: fp32 layers may use TF32 tensor cores (Ampere+, ~1e-3 relative error).
    Off only where fp32 must match ONNX Runtime closely (the parity tests)."""
    calibration: Iterable[npt.NDArray[np.generic]] = field(default=(), repr=False)
    """int8 only: batches for the first input, each of the profile's max batch size; read lazily,
    one batch at a time, so a large calibration set never sits in memory whole."""


def build_engine(request: BuildRequest, progress: BuildProgress) -> bytes:
    """The serialized engine; ModelLoadError naming what failed (unparsable ONNX, no GPU, ...)."""
    tensorrt = import_tensorrt()
    flags = tensorrt.BuilderFlag
    wanted = {"fp32": [], "fp16": ["FP16"], "int8": ["FP16", "INT8"]}[request.precision]
    if any(not hasattr(flags, flag) for flag in wanted):
        # TensorRT 11 removed weak typing: precision comes from the ONNX file's own types there.
        raise ModelLoadError(
            f"TensorRT {tensorrt.__version__} has no {request.precision} builder flag (strongly typed "
            "networks only); convert the ONNX file's precision first (e.g. ModelOpt AutoCast) and "
            "build it as fp32"
        )
    trt_logger = tensorrt.Logger(tensorrt.Logger.WARNING)
    builder = tensorrt.Builder(trt_logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = tensorrt.OnnxParser(network, trt_logger)
    progress.phase_start("Parsing ONNX", None, 1)
    if not parser.parse_from_file(str(request.onnx_path)):
        errors = [str(parser.get_error(index).desc()) for index in range(parser.num_errors)]
        raise ModelLoadError(f"{request.onnx_path}: TensorRT cannot parse it: {'; '.join(errors) or '?'}")
    progress.phase_finish("Parsing ONNX")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(tensorrt.MemoryPoolType.WORKSPACE, request.workspace_bytes)
    profile = builder.create_optimization_profile()
    for shape in request.profile:
        profile.set_shape(shape.name, shape.minimum, shape.optimum, shape.maximum)
    config.add_optimization_profile(profile)
    if not request.tf32 and hasattr(flags, "TF32"):
        config.clear_flag(flags.TF32)
    for flag in wanted:
        config.set_flag(getattr(flags, flag))
    calibrator = None
    if request.precision == "int8":
        first = request.profile[0]
        calibrator = _calibrator(tensorrt, first.name, first.max_batch, request.calibration)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)
    # Kept referenced until the build returns: TensorRT holds only a borrowed pointer.
    monitor = _monitor(tensorrt, progress)
    if monitor is not None:
        config.progress_monitor = monitor
    else:
        progress.phase_start("Building engine (no progress from this TensorRT; minutes)", None, 1)
    try:
        serialized = builder.build_serialized_network(network, config)
    except Exception as exc:  # pybind11 surfaces TensorRT failures as plain RuntimeErrors
        raise ModelLoadError(f"{request.onnx_path}: TensorRT build failed: {exc}") from exc
    finally:
        if calibrator is not None:
            calibrator.release()
    if monitor is None:
        progress.phase_finish("Building engine (no progress from this TensorRT; minutes)")
    if calibrator is not None and calibrator.error is not None:
        raise ModelLoadError(f"int8 calibration failed: {calibrator.error}")
    if serialized is None:
        raise ModelLoadError(f"{request.onnx_path}: TensorRT failed to build an engine (see its log above)")
    return bytes(serialized)


def _monitor(tensorrt: ModuleType, progress: BuildProgress) -> Any:
    base = getattr(tensorrt, "IProgressMonitor", None)
    if base is None:
        return None

    class Monitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            # pybind11 trampolines need the base initialiser called explicitly (TensorRT's samples do)
            super().__init__()

        # TensorRT calls these from C++ as noexcept: an exception escaping would abort the
        # process, so a progress display failure is logged and the build goes on.
        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            try:
                progress.phase_start(phase_name, parent_phase, num_steps)
            except Exception:
                logger.exception("progress display failed")

        def step_complete(self, phase_name: str, step: int) -> bool:
            try:
                progress.step_complete(phase_name, step)
            except Exception:
                logger.exception("progress display failed")
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            try:
                progress.phase_finish(phase_name)
            except Exception:
                logger.exception("progress display failed")

    return Monitor()


class CalibrationFeed:
    """Calibration batches put on the GPU one at a time, where TensorRT's calibrator reads them.

    Each batch goes through one pinned host buffer and one device buffer, both sized by the first
    batch, on a stream of its own; ``next_batch`` returns once the copy has landed, since TensorRT
    reads the device buffer on its own stream as soon as the calibrator answers. TensorRT-free, so a
    GPU without TensorRT checks it (``tests/gpu/test_calibration_feed.py``).
    """

    def __init__(
        self, cudart: ModuleType, batch_size: int, batches: Iterable[npt.NDArray[np.generic]]
    ) -> None:
        self._cudart = cudart
        self._batch_size = batch_size
        self._batches: Iterator[npt.NDArray[np.generic]] = iter(batches)
        self._staging: tuple[Stream, PinnedBuffers, tuple[int, ...], np.dtype[Any]] | None = None
        """Made for the first batch: its stream and buffers, and its shape and type, which every later
        batch must have."""

    def next_batch(self) -> int | None:
        """The device address of the next batch, valid until the next call; None after the last."""
        batch = next(self._batches, None)
        if batch is None:
            return None
        data = np.ascontiguousarray(batch)
        stream, buffers = self._staging_for(data)
        buffers.host[: data.nbytes] = data.reshape(-1).view(np.uint8)
        buffers.upload(data.nbytes, stream)
        stream.synchronize()
        return buffers.device

    def _staging_for(self, data: npt.NDArray[np.generic]) -> tuple[Stream, PinnedBuffers]:
        if self._staging is None:
            if data.ndim == 0 or data.shape[0] != self._batch_size:
                raise ModelLoadError(
                    f"calibration batch of shape {list(data.shape)} does not hold {self._batch_size} items"
                )
            stream = Stream(self._cudart)
            try:
                buffers = PinnedBuffers(self._cudart, data.nbytes)
            except Exception:
                stream.close()
                raise
            self._staging = (stream, buffers, data.shape, data.dtype)
        stream, buffers, shape, dtype = self._staging
        if (data.shape, data.dtype) != (shape, dtype):
            raise ModelLoadError(
                f"calibration batch of shape {list(data.shape)} ({data.dtype}) does not match the first, "
                f"{list(shape)} ({dtype})"
            )
        return stream, buffers

    def close(self) -> None:
        """Wait for the last copy, then free the stream and buffers; a second close does nothing."""
        if self._staging is None:
            return
        (stream, buffers, _, _), self._staging = self._staging, None
        stream.close()
        buffers.close()


def _calibrator(
    tensorrt: ModuleType, input_name: str, batch_size: int, batches: Iterable[npt.NDArray[np.generic]]
) -> Any:
    """An entropy calibrator feeding ``batches`` to the input ``input_name`` (see CalibrationFeed)."""
    feed = CalibrationFeed(import_cuda_runtime(), batch_size, batches)
    base = tensorrt.IInt8EntropyCalibrator2

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.error: Exception | None = None
            """Why calibration stopped early; raised once the build returns."""

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            # Called from C++ as noexcept (see Monitor): errors end calibration and are kept.
            try:
                device = feed.next_batch()
            except Exception as exc:
                self.error = exc
                return None
            if device is None:
                return None
            return [device if name == input_name else 0 for name in names]

        def read_calibration_cache(self) -> bytes | None:
            return None  # always calibrate from the frames given: they are why --calib was passed

        def write_calibration_cache(self, cache: bytes) -> None:
            logger.debug("int8 calibration table of %d bytes (not kept)", len(cache))

        def release(self) -> None:
            feed.close()

    return Calibrator()
