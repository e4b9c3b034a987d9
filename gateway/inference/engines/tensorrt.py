"""Native TensorRT engine: runs a serialized engine with the TensorRT 10 API.

Each ``TensorrtEngine`` belongs to one worker and owns one execution context, one CUDA stream, and
device and pinned host buffers preallocated for the profile's largest batch, so a run allocates
nothing: inputs are copied into pinned memory, sent with ``cudaMemcpyAsync``, the context runs with
``execute_async_v3`` on the worker's stream, outputs come back the same way, and only the final
numpy copy (the result handed to the caller) is new memory. Tensors are addressed by name
(``set_input_shape`` / ``set_tensor_address``), never by binding index, which TensorRT 10 removed.

``tensorrt`` and the CUDA runtime bindings (``cuda-python``) are imported lazily: they exist only
on GPU boxes, and their absence is a ModelLoadError with a one-line install hint, not a traceback.
"""

from __future__ import annotations

import ctypes
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

logger = logging.getLogger(__name__)

PROVIDER = "TensorRT"
"""What ``Engine.provider`` says for a native engine (ONNX Runtime's own is TensorrtExecutionProvider)."""

INSTALL_HINT = (
    "TensorRT's Python bindings are not installed: on Jetson `sudo apt install python3-libnvinfer` "
    "(JetPack), on x86 `pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu12` or "
    "NVIDIA's CUDA repos (python3-libnvinfer); plus `pip install cuda-python`"
)
CUDA_HINT = "the CUDA runtime bindings are not installed: `pip install cuda-python` (matching the CUDA major)"

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


def import_cuda_runtime() -> ModuleType:
    """cuda-python's runtime module: ``cuda.bindings.runtime`` (12.6+) or the older ``cuda.cudart``."""
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
        except OSError as exc:
            raise ModelLoadError(f"the CUDA runtime cannot be loaded ({exc})") from exc
    raise ModelLoadError(CUDA_HINT)


def tensorrt_available() -> bool:
    """Whether TensorRT and the CUDA bindings import (cheap after the first call)."""
    try:
        import_tensorrt()
        import_cuda_runtime()
    except ModelLoadError:
        return False
    return True


def check_cuda(result: Any, what: str) -> Any:
    """cuda-python returns ``(error, *values)``; raise InferenceError on any error, else the values."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise InferenceError(f"{what} failed: CUDA error {int(error)} ({getattr(error, 'name', error)})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def current_device(tensorrt: ModuleType, cudart: ModuleType) -> Device:
    """The GPU this process runs on, for engine cache keys; ModelLoadError when there is none."""
    try:
        device = check_cuda(cudart.cudaGetDevice(), "cudaGetDevice")
        properties = check_cuda(cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    except InferenceError as exc:
        raise ModelLoadError(f"no usable CUDA GPU: {exc}") from exc
    name = properties.name
    if isinstance(name, bytes):
        name = name.split(b"\0", 1)[0].decode("utf-8", "replace")
    return Device(str(name).strip(), f"{properties.major}.{properties.minor}", str(tensorrt.__version__))


@dataclass(frozen=True, slots=True)
class _Binding:
    """One I/O tensor with its preallocated device buffer and pinned host buffer."""

    spec: TensorSpec
    dtype: np.dtype[Any]
    capacity: int
    """Bytes both buffers hold: the tensor at the profile's largest shape."""
    device: int
    host: npt.NDArray[np.uint8]


class TensorrtEngine:
    """One execution context on one CUDA stream; owned by one worker, so ``run`` is never concurrent."""

    def __init__(self, plan_path: Path) -> None:
        self._tensorrt = tensorrt = import_tensorrt()
        self._cudart = import_cuda_runtime()
        self._trt_logger = tensorrt.Logger(tensorrt.Logger.WARNING)
        self._bindings: dict[str, _Binding] = {}
        self._device_pointers: list[int] = []
        self._host_pointers: list[int] = []
        self._stream: Any = None
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
        self._stream = check_cuda(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._context.set_optimization_profile_async(0, int(self._stream))
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
            device = int(check_cuda(cudart.cudaMalloc(capacity), "cudaMalloc"))
            self._device_pointers.append(device)
            host_pointer = int(check_cuda(cudart.cudaMallocHost(capacity), "cudaMallocHost"))
            self._host_pointers.append(host_pointer)
            pointer = ctypes.cast(host_pointer, ctypes.POINTER(ctypes.c_uint8))
            host = np.ctypeslib.as_array(pointer, (capacity,))
            self._bindings[name] = _Binding(spec, dtype, capacity, device, host)
            # Buffers never move, so addresses are set once here rather than on every run.
            if not self._context.set_tensor_address(name, device):
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
        cudart = self._cudart
        if self._context is None:
            raise InferenceError("the TensorRT engine is closed")
        unknown = sorted(set(feeds) - self._input_names)
        missing = sorted(self._input_names - set(feeds))
        if unknown or missing:
            raise InvalidInputError(f"inputs: missing {missing}, unknown {unknown}")
        to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        to_host = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        stream = self._stream
        for name, array in feeds.items():
            binding = self._bindings[name]
            self._check_input(name, binding, array)
            if not self._context.set_input_shape(name, tuple(array.shape)):
                raise InvalidInputError(f"input {name!r}: TensorRT rejected shape {list(array.shape)}")
            size = array.nbytes
            binding.host[:size] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
            check_cuda(
                cudart.cudaMemcpyAsync(binding.device, binding.host.ctypes.data, size, to_device, stream),
                "cudaMemcpyAsync to the GPU",
            )
        if not self._context.execute_async_v3(int(stream)):
            raise InferenceError("TensorRT execute_async_v3 failed (see the TensorRT log)")
        shapes: dict[str, tuple[int, ...]] = {}
        for spec in self._outputs:
            binding = self._bindings[spec.name]
            shape = shapes[spec.name] = tuple(self._context.get_tensor_shape(spec.name))
            size = math.prod(shape) * binding.dtype.itemsize
            if size > binding.capacity:
                raise InferenceError(f"output {spec.name!r} of shape {list(shape)} exceeds its buffer")
            check_cuda(
                cudart.cudaMemcpyAsync(binding.host.ctypes.data, binding.device, size, to_host, stream),
                "cudaMemcpyAsync from the GPU",
            )
        check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        results: dict[str, npt.NDArray[np.generic]] = {}
        for spec in self._outputs:
            binding, shape = self._bindings[spec.name], shapes[spec.name]
            size = math.prod(shape) * binding.dtype.itemsize
            # Copied out: the pinned buffer is overwritten by the next batch.
            results[spec.name] = binding.host[:size].view(binding.dtype).reshape(shape).copy()
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
        cudart = self._cudart
        if self._stream is not None:
            cudart.cudaStreamSynchronize(self._stream)
        # The context goes before the buffers its tensor addresses point at, then the engine.
        self._context = None
        self._engine = None
        for pointer in self._device_pointers:
            cudart.cudaFree(pointer)
        for pointer in self._host_pointers:
            cudart.cudaFreeHost(pointer)
        self._bindings, self._device_pointers, self._host_pointers = {}, [], []
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
            self._stream = None
