"""A stand-in for cuda-python's runtime module in host memory, for the order of CUDA calls only.

Allocations are real host memory (so ``PinnedBuffers`` can map its pinned buffer as it does on a
GPU), and asynchronous copies are queued on their stream and happen only when it is synchronized,
as the GPU may delay them: code that reads a copy before waiting for it reads the old bytes here.
What CUDA itself does is checked on a GPU (``tests/gpu``); this checks only what the caller asks,
and in what order.
"""

# The methods carry cuda-python's own (CUDA's camelCase) names: the code under test calls them so.
# ruff: noqa: N802, N815

from __future__ import annotations

import ctypes
import enum
from collections.abc import Callable
from types import ModuleType, SimpleNamespace

CudaError = enum.IntEnum("CudaError", {"cudaSuccess": 0, "cudaErrorInvalidValue": 1})
SUCCESS, INVALID_VALUE = CudaError["cudaSuccess"], CudaError["cudaErrorInvalidValue"]


class HostCudaRuntime(ModuleType):
    """The runtime calls ``cuda_runtime`` and the calibration feed make, named as cuda-python names them."""

    cudaMemcpyKind = SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)

    def __init__(self) -> None:
        super().__init__("host_cuda_runtime")
        self.device_memory: dict[int, ctypes.Array[ctypes.c_char]] = {}
        self.pinned_memory: dict[int, ctypes.Array[ctypes.c_char]] = {}
        self.streams: dict[int, list[Callable[[], object]]] = {}
        self._next_stream = 1

    def cudaMalloc(self, size: int) -> tuple[CudaError, int]:
        return SUCCESS, self._allocate(self.device_memory, size)

    def cudaMallocHost(self, size: int) -> tuple[CudaError, int]:
        return SUCCESS, self._allocate(self.pinned_memory, size)

    def cudaFree(self, address: int) -> tuple[CudaError]:
        return (SUCCESS if self.device_memory.pop(address, None) is not None else INVALID_VALUE,)

    def cudaFreeHost(self, address: int) -> tuple[CudaError]:
        return (SUCCESS if self.pinned_memory.pop(address, None) is not None else INVALID_VALUE,)

    def cudaStreamCreate(self) -> tuple[CudaError, int]:
        handle, self._next_stream = self._next_stream, self._next_stream + 1
        self.streams[handle] = []
        return SUCCESS, handle

    def cudaStreamSynchronize(self, handle: int) -> tuple[CudaError]:
        queued = self.streams.get(handle)
        if queued is None:
            return (INVALID_VALUE,)
        while queued:
            queued.pop(0)()
        return (SUCCESS,)

    def cudaStreamDestroy(self, handle: int) -> tuple[CudaError]:
        # CUDA finishes a destroyed stream's work before releasing it.
        status = self.cudaStreamSynchronize(handle)
        self.streams.pop(handle, None)
        return status

    def cudaMemcpyAsync(
        self, target: int, source: int, size: int, kind: int, handle: int
    ) -> tuple[CudaError]:
        if handle not in self.streams or not (self._holds(target, size) and self._holds(source, size)):
            return (INVALID_VALUE,)
        self.streams[handle].append(lambda: self._copy(target, source, size))
        return (SUCCESS,)

    def held(self) -> tuple[int, int, int]:
        """How many device buffers, pinned buffers and streams are allocated and not yet freed."""
        return len(self.device_memory), len(self.pinned_memory), len(self.streams)

    def read(self, address: int, size: int) -> bytes:
        """What the memory at ``address`` holds now, whatever is still queued."""
        assert self._holds(address, size), "a read outside every allocation"
        return ctypes.string_at(address, size)

    def _copy(self, target: int, source: int, size: int) -> None:
        # On a GPU, a buffer freed while a copy to or from it is queued is memory corrupted later.
        assert self._holds(target, size), "a queued copy outlived its target buffer"
        assert self._holds(source, size), "a queued copy outlived its source buffer"
        ctypes.memmove(target, source, size)

    def _allocate(self, memory: dict[int, ctypes.Array[ctypes.c_char]], size: int) -> int:
        block = ctypes.create_string_buffer(max(size, 1))
        memory[ctypes.addressof(block)] = block
        return ctypes.addressof(block)

    def _holds(self, address: int, size: int) -> bool:
        blocks = (*self.device_memory.items(), *self.pinned_memory.items())
        return any(start <= address and address + size <= start + len(block) for start, block in blocks)
