"""The CUDA runtime as the native TensorRT engine uses it: the GPU, streams, device and pinned buffers.

Through cuda-python's runtime bindings (``cuda.bindings.runtime`` from 12.6, ``cuda.cudart``
before), imported lazily: they exist only on GPU boxes, and their absence is a ModelLoadError with
an install hint. Kept apart from TensorRT so that a GPU without TensorRT can check it
(``tests/gpu/test_cuda_runtime.py``).
"""

from __future__ import annotations

import ctypes
import importlib
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.errors import InferenceError, ModelLoadError

CUDA_HINT = "the CUDA runtime bindings are not installed: `pip install cuda-python` (matching the CUDA major)"


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


def check_cuda(result: Any, what: str) -> Any:
    """cuda-python returns ``(error, *values)``; raise InferenceError on any error, else the values."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise InferenceError(f"{what} failed: CUDA error {int(error)} ({getattr(error, 'name', error)})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def gpu_identity(cudart: ModuleType) -> tuple[str, str]:
    """The current GPU's name and compute capability ("8.7"); ModelLoadError when there is none."""
    try:
        device = check_cuda(cudart.cudaGetDevice(), "cudaGetDevice")
        properties = check_cuda(cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    except InferenceError as exc:
        raise ModelLoadError(f"no usable CUDA GPU: {exc}") from exc
    name = properties.name
    if isinstance(name, bytes):
        name = name.split(b"\0", 1)[0].decode("utf-8", "replace")
    return str(name).strip(), f"{properties.major}.{properties.minor}"


class Stream:
    """One CUDA stream: the work of one worker, in order."""

    def __init__(self, cudart: ModuleType) -> None:
        self._cudart = cudart
        self.handle: Any = check_cuda(cudart.cudaStreamCreate(), "cudaStreamCreate")

    def synchronize(self) -> None:
        check_cuda(self._cudart.cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def close(self) -> None:
        """Wait for the stream's work, then destroy it; a second close does nothing."""
        if self.handle is None:
            return
        handle, self.handle = self.handle, None
        self._cudart.cudaStreamSynchronize(handle)
        self._cudart.cudaStreamDestroy(handle)


class PinnedBuffers:
    """One tensor's device buffer and a pinned host buffer of the same size, copied on a stream.

    Pinned (page-locked) host memory is what lets ``cudaMemcpyAsync`` copy without staging and
    return at once; the caller writes ``host`` before an upload and reads it after the stream has
    been synchronized following a download, never in between.
    """

    def __init__(self, cudart: ModuleType, capacity: int) -> None:
        self._cudart = cudart
        self.capacity = capacity
        self.device = int(check_cuda(cudart.cudaMalloc(capacity), "cudaMalloc"))
        try:
            self._host_pointer = int(check_cuda(cudart.cudaMallocHost(capacity), "cudaMallocHost"))
        except InferenceError:
            cudart.cudaFree(self.device)
            raise
        pointer = ctypes.cast(self._host_pointer, ctypes.POINTER(ctypes.c_uint8))
        self.host: npt.NDArray[np.uint8] = np.ctypeslib.as_array(pointer, (capacity,))
        self._closed = False

    def upload(self, size: int, stream: Stream) -> None:
        """Queue the copy of ``host[:size]`` to the device on ``stream``."""
        self._check(size)
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        copy = self._cudart.cudaMemcpyAsync(self.device, self._host_pointer, size, kind, stream.handle)
        check_cuda(copy, "cudaMemcpyAsync to the GPU")

    def download(self, size: int, stream: Stream) -> None:
        """Queue the copy of the device's first ``size`` bytes into ``host`` on ``stream``."""
        self._check(size)
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        copy = self._cudart.cudaMemcpyAsync(self._host_pointer, self.device, size, kind, stream.handle)
        check_cuda(copy, "cudaMemcpyAsync from the GPU")

    def _check(self, size: int) -> None:
        if self._closed:
            raise InferenceError("the buffers are closed")
        # The GPU would copy past the end of either buffer without a word.
        if not 0 <= size <= self.capacity:
            raise InferenceError(f"a copy of {size} bytes does not fit a buffer of {self.capacity}")

    def close(self) -> None:
        """Free both buffers (no copy may still be queued on them); a second close does nothing."""
        if self._closed:
            return
        self._closed = True
        # The array would read freed memory.
        self.host = np.empty(0, np.uint8)
        self._cudart.cudaFree(self.device)
        self._cudart.cudaFreeHost(self._host_pointer)
