"""The int8 calibrator's feed on a real GPU: each batch's bytes at the address TensorRT is given.

TensorRT reads that address on a stream of its own once the calibrator answers, so here the device
buffer is read back on a non-blocking stream, which waits for nothing the feed queued: what it finds
is what TensorRT would. Needs cuda-python and a GPU, not TensorRT; the refusals of batches unlike
the first are pure logic, checked without a GPU (``tests/unit/gpu/test_calibration_feed.py``).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from gateway.inference.engines.cuda_runtime import check_cuda
from gateway.inference.engines.tensorrt_build import CalibrationFeed

pytestmark = pytest.mark.gpu

NON_BLOCKING = 1
"""cudaStreamNonBlocking: no implicit wait for the default stream or any stream created blocking."""


def read_device(cudart: ModuleType, address: int, size: int, offset: int = 0) -> npt.NDArray[np.uint8]:
    """``size`` bytes at ``address + offset``, copied on a stream that waits for no other."""
    stream = check_cuda(cudart.cudaStreamCreateWithFlags(NON_BLOCKING), "cudaStreamCreateWithFlags")
    try:
        out = np.zeros(size, np.uint8)
        kind = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        check_cuda(cudart.cudaMemcpyAsync(out.ctypes.data, address + offset, size, kind, stream), "copy back")
        check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        return out
    finally:
        cudart.cudaStreamDestroy(stream)


def as_bytes(batch: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(batch).reshape(-1).view(np.uint8)


def test_each_batch_is_at_the_address_given_until_the_next(cudart: ModuleType) -> None:
    generator = np.random.default_rng(11)
    batches = [generator.random((4, 3, 320, 320), dtype=np.float32) for _ in range(3)]
    feed = CalibrationFeed(cudart, 4, iter(batches))
    try:
        addresses = []
        for batch in batches:
            address = feed.next_batch()
            assert address is not None
            addresses.append(address)
            assert np.array_equal(read_device(cudart, address, batch.nbytes), as_bytes(batch))
        assert feed.next_batch() is None
        assert len(set(addresses)) == 1  # one device buffer, reused
    finally:
        feed.close()


def test_a_batch_has_landed_when_its_address_is_given(cudart: ModuleType) -> None:
    # 256 MiB takes milliseconds to copy; the last bytes read straight after the answer, on a stream
    # that does not wait, would still be the previous batch's if the feed answered before the copy.
    shape = (2, 1 << 25)
    batches = [np.full(shape, 1.0, np.float32), np.full(shape, 2.0, np.float32)]
    feed = CalibrationFeed(cudart, 2, iter(batches))
    try:
        feed.next_batch()
        address = feed.next_batch()
        assert address is not None
        tail = read_device(cudart, address, 4096, offset=batches[1].nbytes - 4096)
        assert np.array_equal(tail.view(np.float32), np.full(1024, 2.0, np.float32))
    finally:
        feed.close()


def test_a_strided_batch_is_sent_as_its_contiguous_copy(cudart: ModuleType) -> None:
    nhwc = np.random.default_rng(5).random((2, 64, 48, 3), dtype=np.float32)
    nchw = nhwc.transpose(0, 3, 1, 2)  # a view: its memory is not in NCHW order
    assert not nchw.flags.c_contiguous
    feed = CalibrationFeed(cudart, 2, iter([nchw]))
    try:
        address = feed.next_batch()
        assert address is not None
        assert np.array_equal(read_device(cudart, address, nchw.nbytes), as_bytes(nchw))
    finally:
        feed.close()


def test_close_frees_what_was_allocated_and_a_second_close_does_nothing(cudart: ModuleType) -> None:
    free_before, _ = check_cuda(cudart.cudaMemGetInfo(), "cudaMemGetInfo")
    feed = CalibrationFeed(cudart, 2, iter([np.zeros((2, 1 << 27), np.float32)]))  # 1 GiB
    assert feed.next_batch() is not None
    free_during, _ = check_cuda(cudart.cudaMemGetInfo(), "cudaMemGetInfo")
    feed.close()
    feed.close()
    free_after, _ = check_cuda(cudart.cudaMemGetInfo(), "cudaMemGetInfo")
    assert free_before - free_during >= 1 << 30
    assert free_after >= free_before - (64 << 20)  # the 1 GiB is back, give or take CUDA's own
