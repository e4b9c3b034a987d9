"""The native engine's buffers without a GPU: what they ask of the CUDA runtime when an allocation
fails, when closed and when a copy does not fit (the copies themselves: ``tests/gpu``)."""

from __future__ import annotations

import pytest

from gateway.errors import InferenceError
from gateway.inference.engines.cuda_runtime import PinnedBuffers, Stream
from tests.unit.gpu.host_cuda import INVALID_VALUE, CudaError, HostCudaRuntime


class NoPinnedMemory(HostCudaRuntime):
    def cudaMallocHost(self, size: int) -> tuple[CudaError, int]:  # noqa: N802 (cuda-python's name)
        return INVALID_VALUE, 0


def test_a_failed_pinned_allocation_frees_the_device_buffer_and_names_the_call() -> None:
    runtime = NoPinnedMemory()
    with pytest.raises(InferenceError, match="cudaMallocHost failed: CUDA error 1"):
        PinnedBuffers(runtime, 1024)
    assert runtime.held() == (0, 0, 0)


def test_closed_buffers_free_both_once_and_refuse_copies() -> None:
    runtime = HostCudaRuntime()
    stream = Stream(runtime)
    buffers = PinnedBuffers(runtime, 64)
    buffers.host[:] = 7
    buffers.upload(64, stream)
    stream.synchronize()
    buffers.close()
    buffers.close()
    assert runtime.held() == (0, 0, 1)
    assert buffers.host.size == 0  # the array no longer maps the freed memory
    with pytest.raises(InferenceError, match="closed"):
        buffers.upload(1, stream)
    stream.close()
    stream.close()
    assert runtime.held() == (0, 0, 0)


@pytest.mark.parametrize("size", [-1, 65])
def test_a_copy_that_does_not_fit_is_refused_before_the_runtime_sees_it(size: int) -> None:
    runtime = HostCudaRuntime()
    stream = Stream(runtime)
    buffers = PinnedBuffers(runtime, 64)
    with pytest.raises(InferenceError, match=f"a copy of {size} bytes does not fit a buffer of 64"):
        buffers.download(size, stream)
    assert runtime.streams[stream.handle] == []
    buffers.close()
    stream.close()
