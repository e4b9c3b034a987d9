"""Native TensorRT engine: runs a serialized engine with the TensorRT 10 API.

Each ``TensorrtEngine`` belongs to one worker and owns one execution context, one CUDA stream, and
device and pinned host buffers preallocated for the profile's largest batch, so a run allocates
nothing: inputs are copied into pinned memory, sent with ``cudaMemcpyAsync``, the context runs with
``execute_async_v3`` on the worker's stream, outputs come back the same way, and only the final
numpy copy (the result handed to the caller) is new memory. Tensors are addressed by name
(``set_input_shape`` / ``set_tensor_address``), never by binding index, which TensorRT 10 removed.
The CUDA runtime's side (the GPU, the stream, the buffers and their copies) is ``cuda_runtime``.

``tensorrt`` and the CUDA runtime bindings (``cuda-python``) are imported lazily: they exist only
on GPU boxes, and their absence is a ModelLoadError with a one-line install hint, not a traceback.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.domain import TensorSpec, TensorType
from gateway.errors import InferenceError, InvalidInputError, ModelLoadError
from gateway.inference.engine_cache import Device
from gateway.inference.engines.base import Tensors
from gateway.inference.engines.cuda_runtime import PinnedBuffers, Stream, gpu_identity, import_cuda_runtime

logger = logging.getLogger(__name__)

PROVIDER = "TensorRT"
"""What ``Engine.provider`` says for a native engine (ONNX Runtime's own is TensorrtExecutionProvider)."""

INSTALL_HINT = (
    "TensorRT's Python bindings are not installed: on Jetson `sudo apt install python3-libnvinfer` "
    "(JetPack), on x86 `pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu12` or "
    "NVIDIA's CUDA repos (python3-libnvinfer); plus `pip install cuda-python`"
)
_TRT_TYPES: Mapping[str, TensorType] = {
    "FLOAT": TensorType.FP32,
    "HALF": TensorType.FP16,
    "INT8": TensorType.INT8,
    "INT32": TensorType.INT32,
    "INT64": TensorType.INT64,
    "BOOL": TensorType.BOOL,
    "UINT8": TensorType.UINT8,
}


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module; ModelLoadError with the install hint when it is missing or broken."""
    try:
        module = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise ModelLoadError(INSTALL_HINT) from exc
    except OSError as exc:  # the bindings exist but libnvinfer cannot be loaded
        raise ModelLoadError(f"TensorRT cannot load its libraries ({exc}); {INSTALL_HINT}") from exc
    if not hasattr(module, "Runtime"):
        # PyPI's "tensorrt" stub package, or a script named tensorrt.py early on sys.path
        raise ModelLoadError(f"{getattr(module, '__file__', module)} is not TensorRT; {INSTALL_HINT}")
    return module


def tensorrt_available() -> bool:
    """Whether TensorRT and the CUDA bindings import (cheap after the first call)."""
    try:
        import_tensorrt()
        import_cuda_runtime()
    except ModelLoadError:
        return False
    return True


def current_device(tensorrt: ModuleType, cudart: ModuleType) -> Device:
    """The GPU this process runs on, for engine cache keys; ModelLoadError when there is none."""
    name, capability = gpu_identity(cudart)
    return Device(name, capability, str(tensorrt.__version__))


@dataclass(frozen=True, slots=True)
class _Binding:
    """One I/O tensor with its buffers, sized for the tensor at the profile's largest shape."""

    spec: TensorSpec
    dtype: np.dtype[Any]
    buffers: PinnedBuffers


class TensorrtEngine:
    """One execution context on one CUDA stream; owned by one worker, so ``run`` is never concurrent."""

    def __init__(self, plan_path: Path) -> None:
        self._tensorrt = tensorrt = import_tensorrt()
        self._cudart = import_cuda_runtime()
        self._trt_logger = tensorrt.Logger(tensorrt.Logger.WARNING)
        self._bindings: dict[str, _Binding] = {}
        self._stream: Stream | None = None
        self._context: Any = None
        try:
            plan = plan_path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"{plan_path}: {exc.strerror or exc}") from exc
        self._runtime = tensorrt.Runtime(self._trt_logger)
        try:
            self._engine = self._runtime.deserialize_cuda_engine(plan)
        except Exception as exc:  # pybind11 surfaces TensorRT failures as RuntimeError/TypeError
            raise ModelLoadError(f"{plan_path}: TensorRT cannot deserialize it: {exc}") from exc
        if self._engine is None:
            raise ModelLoadError(
                f"{plan_path}: TensorRT {tensorrt.__version__} cannot deserialize this engine "
                "(built by another TensorRT or for another GPU); rebuild it with edge-gateway build-engine"
            )
        try:
            self._allocate(plan_path)
        except (InferenceError, ModelLoadError) as exc:
            self.close()
            raise ModelLoadError(f"{plan_path}: {exc}") from exc
        self._inputs = tuple(b.spec for b in self._bindings.values() if b.spec.name in self._input_names)
        self._outputs = tuple(b.spec for b in self._bindings.values() if b.spec.name not in self._input_names)

    def _allocate(self, plan_path: Path) -> None:
        tensorrt, cudart, engine = self._tensorrt, self._cudart, self._engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise ModelLoadError("TensorRT could not create an execution context (GPU memory?)")
        self._stream = Stream(cudart)
        self._context.set_optimization_profile_async(0, int(self._stream.handle))
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        self._input_names = frozenset(
            name for name in names if engine.get_tensor_mode(name) == tensorrt.TensorIOMode.INPUT
        )
        self._profile: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        for name in sorted(self._input_names):
            minimum, _, maximum = engine.get_tensor_profile_shape(name, 0)
            self._profile[name] = (tuple(minimum), tuple(maximum))
            # The largest shape decides the buffer sizes of inputs and, through it, of outputs.
            if not self._context.set_input_shape(name, tuple(maximum)):
                raise ModelLoadError(f"input {name!r} rejects its own profile's max shape {tuple(maximum)}")
        for name in names:
            spec = self._spec(name)
            largest = tuple(self._context.get_tensor_shape(name))
            if any(dim < 0 for dim in largest):
                raise ModelLoadError(
                    f"output {name!r} has a data-dependent shape {list(largest)}; not supported"
                )
            dtype = spec.datatype.numpy_dtype
            capacity = max(1, math.prod(largest)) * dtype.itemsize
            buffers = PinnedBuffers(cudart, capacity)
            self._bindings[name] = _Binding(spec, dtype, buffers)
            # Buffers never move, so addresses are set once here rather than on every run.
            if not self._context.set_tensor_address(name, buffers.device):
                raise ModelLoadError(f"TensorRT rejected the device address of tensor {name!r}")
        logger.debug("%s: %d tensors, buffers for batch %s", plan_path, len(names), self.max_batch)

    def _spec(self, name: str) -> TensorSpec:
        trt_type = self._engine.get_tensor_dtype(name)
        dtype_name = getattr(trt_type, "name", str(trt_type).rsplit(".", 1)[-1])
        datatype = _TRT_TYPES.get(dtype_name)
        if datatype is None:
            raise ModelLoadError(f"tensor {name!r} has unsupported TensorRT type {dtype_name}")
        shape = tuple(int(dim) for dim in self._engine.get_tensor_shape(name))
        return TensorSpec(name, datatype, tuple(dim if dim >= 0 else -1 for dim in shape))

    @property
    def max_batch(self) -> int:
        return min((maximum[0] for _, maximum in self._profile.values()), default=1)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def thread_safe(self) -> bool:
        # One execution context and its device buffers: one worker at a time.
        return False

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        stream = self._stream
        if self._context is None or stream is None:
            raise InferenceError("the TensorRT engine is closed")
        unknown = sorted(set(feeds) - self._input_names)
        missing = sorted(self._input_names - set(feeds))
        if unknown or missing:
            raise InvalidInputError(f"inputs: missing {missing}, unknown {unknown}")
        for name, array in feeds.items():
            binding = self._bindings[name]
            self._check_input(name, binding, array)
            if not self._context.set_input_shape(name, tuple(array.shape)):
                raise InvalidInputError(f"input {name!r}: TensorRT rejected shape {list(array.shape)}")
            binding.buffers.host[: array.nbytes] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
            binding.buffers.upload(array.nbytes, stream)
        if not self._context.execute_async_v3(int(stream.handle)):
            raise InferenceError("TensorRT execute_async_v3 failed (see the TensorRT log)")
        shapes: dict[str, tuple[int, ...]] = {}
        for spec in self._outputs:
            binding = self._bindings[spec.name]
            shape = shapes[spec.name] = tuple(self._context.get_tensor_shape(spec.name))
            size = math.prod(shape) * binding.dtype.itemsize
            if size > binding.buffers.capacity:
                raise InferenceError(f"output {spec.name!r} of shape {list(shape)} exceeds its buffer")
            binding.buffers.download(size, stream)
        stream.synchronize()
        results: dict[str, npt.NDArray[np.generic]] = {}
        for spec in self._outputs:
            binding, shape = self._bindings[spec.name], shapes[spec.name]
            size = math.prod(shape) * binding.dtype.itemsize
            # Copied out: the pinned buffer is overwritten by the next batch.
            results[spec.name] = binding.buffers.host[:size].view(binding.dtype).reshape(shape).copy()
        return results

    def _check_input(self, name: str, binding: _Binding, array: npt.NDArray[np.generic]) -> None:
        if array.dtype != binding.dtype:
            wanted = binding.spec.datatype.value
            raise InvalidInputError(f"input {name!r} is {wanted}, got numpy {array.dtype}")
        minimum, maximum = self._profile[name]
        if array.ndim != len(minimum) or any(
            not low <= dim <= high for dim, low, high in zip(array.shape, minimum, maximum, strict=True)
        ):
            raise InvalidInputError(
                f"input {name!r} has shape {list(array.shape)}; this engine takes "
                f"{list(minimum)} to {list(maximum)} (rebuild it with build-engine for other sizes)"
            )

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        # The context goes before the buffers its tensor addresses point at, then the engine.
        self._context = None
        self._engine = None
        for binding in self._bindings.values():
            binding.buffers.close()
        self._bindings = {}
