"""The int8 calibrator's feed without a GPU: what it asks of the CUDA runtime, and in what order.

The CUDA runtime is the host-memory stand-in of ``host_cuda`` (its copies wait for their stream
to be synchronized); the same feed on a real GPU is ``tests/gpu/test_calibration_feed.py``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from gateway.errors import ModelLoadError
from gateway.inference.engines.tensorrt_build import CalibrationFeed
from tests.unit.gpu.host_cuda import HostCudaRuntime


def as_bytes(batch: npt.NDArray[np.generic]) -> bytes:
    return np.ascontiguousarray(batch).tobytes()


def test_each_batch_is_at_the_address_given_before_the_answer() -> None:
    runtime = HostCudaRuntime()
    generator = np.random.default_rng(3)
    batches = [generator.random((4, 3, 8, 8), dtype=np.float32) for _ in range(3)]
    feed = CalibrationFeed(runtime, 4, iter(batches))
    addresses = []
    for batch in batches:
        address = feed.next_batch()
        assert address is not None
        addresses.append(address)
        # Nothing left queued: the copy was waited for, as TensorRT reads on a stream of its own.
        assert all(not queued for queued in runtime.streams.values())
        assert runtime.read(address, batch.nbytes) == as_bytes(batch)
    assert feed.next_batch() is None
    assert len(set(addresses)) == 1
    assert address in runtime.device_memory
    feed.close()


def test_a_strided_batch_is_sent_in_c_order() -> None:
    runtime = HostCudaRuntime()
    nchw = np.arange(2 * 5 * 4 * 3, dtype=np.float32).reshape(2, 5, 4, 3).transpose(0, 3, 1, 2)
    feed = CalibrationFeed(runtime, 2, iter([nchw]))
    address = feed.next_batch()
    assert address is not None
    assert runtime.read(address, nchw.nbytes) == as_bytes(nchw)
    feed.close()


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            np.zeros((2, 3, 8, 8), np.float32),
            r"\[2, 3, 8, 8\] \(float32\) does not match the first, \[2, 3, 4, 4\] \(float32\)",
        ),
        (
            np.zeros((2, 3, 4, 4), np.float16),
            r"\[2, 3, 4, 4\] \(float16\) does not match the first, \[2, 3, 4, 4\] \(float32\)",
        ),
        (np.zeros((2, 48), np.float32), r"\[2, 48\] \(float32\) does not match"),
        (np.zeros((1, 3, 4, 4), np.float32), r"\[1, 3, 4, 4\] \(float32\) does not match"),
    ],
)
def test_a_batch_unlike_the_first_is_refused_naming_both(
    second: npt.NDArray[np.generic], message: str
) -> None:
    runtime = HostCudaRuntime()
    feed = CalibrationFeed(runtime, 2, iter([np.zeros((2, 3, 4, 4), np.float32), second]))
    assert feed.next_batch() is not None
    with pytest.raises(ModelLoadError, match=message):
        feed.next_batch()
    feed.close()
    assert runtime.held() == (0, 0, 0)


@pytest.mark.parametrize("first", [np.zeros((4, 3), np.float32), np.float32(1.0)])
def test_a_first_batch_of_the_wrong_size_is_refused_before_any_allocation(
    first: npt.NDArray[np.generic],
) -> None:
    runtime = HostCudaRuntime()
    feed = CalibrationFeed(runtime, 8, iter([first]))
    with pytest.raises(ModelLoadError, match=r"does not hold 8 items"):
        feed.next_batch()
    assert runtime.held() == (0, 0, 0)
    feed.close()


def test_close_frees_the_stream_and_both_buffers_once() -> None:
    runtime = HostCudaRuntime()
    feed = CalibrationFeed(runtime, 2, iter([np.ones((2, 16), np.float32)]))
    feed.close()  # before any batch: nothing to free
    assert feed.next_batch() is not None
    assert runtime.held() == (1, 1, 1)
    feed.close()
    feed.close()
    assert runtime.held() == (0, 0, 0)
