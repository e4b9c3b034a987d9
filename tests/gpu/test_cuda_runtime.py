"""The CUDA runtime's side of the native engine on a real GPU: the one part of it that needs no TensorRT.

The device, a stream, pinned and device buffers and the copies between them, through cuda-python as
``TensorrtEngine`` makes them; a GPU with cuda-python but no TensorRT runs this module alone
(``pytest -m gpu tests/gpu/test_cuda_runtime.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from gateway.errors import InferenceError
from gateway.inference.engines.cuda_runtime import PinnedBuffers, Stream, gpu_identity

pytestmark = pytest.mark.gpu


def round_trip(cudart: ModuleType, data: npt.NDArray[np.uint8], stream: Stream) -> npt.NDArray[np.uint8]:
    """Send ``data`` to the GPU, wipe the host copy, bring it back: what comes back was on the GPU."""
    buffers = PinnedBuffers(cudart, data.nbytes + 64)
    try:
        buffers.host[: data.nbytes] = data
        buffers.upload(data.nbytes, stream)
        stream.synchronize()
        buffers.host[:] = 0
        buffers.download(data.nbytes, stream)
        stream.synchronize()
        back: npt.NDArray[np.uint8] = buffers.host[: data.nbytes].copy()
        return back
    finally:
        buffers.close()


def test_the_gpu_is_named_as_nvidia_smi_names_it(cudart: ModuleType) -> None:
    name, capability = gpu_identity(cudart)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        pytest.fail("nvidia-smi is not on PATH: it comes with every NVIDIA driver")
    listed = subprocess.run(
        [smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    gpus = {tuple(field.strip() for field in line.split(",")) for line in listed.splitlines() if line.strip()}
    assert (name, capability) in gpus
    assert "\0" not in name


def test_bytes_go_to_the_gpu_and_come_back_whole(cudart: ModuleType) -> None:
    data = np.random.default_rng(7).integers(0, 256, 3 * 640 * 640 * 4, dtype=np.uint8)
    stream = Stream(cudart)
    try:
        assert int(stream.handle) != 0  # TensorRT is given the stream as an address; 0 is CUDA's default
        assert np.array_equal(round_trip(cudart, data, stream), data)
    finally:
        stream.close()
        stream.close()


def test_a_partial_copy_moves_only_its_bytes(cudart: ModuleType) -> None:
    stream = Stream(cudart)
    buffers = PinnedBuffers(cudart, 1024)
    try:
        buffers.host[:] = 1
        buffers.upload(1024, stream)
        stream.synchronize()
        buffers.host[:100] = 2
        buffers.upload(100, stream)
        stream.synchronize()
        buffers.host[:] = 0
        buffers.download(1024, stream)
        stream.synchronize()
        assert buffers.host[:100].tolist() == [2] * 100
        assert buffers.host[100:].tolist() == [1] * 924
    finally:
        buffers.close()
        buffers.close()
        stream.close()


def test_copies_are_read_only_once_their_stream_was_waited_for(cudart: ModuleType) -> None:
    # Large enough that a copy takes milliseconds: its last byte is read microseconds after it was
    # queued, so a wait that did not wait reads the byte the copy has not reached.
    size = 256 << 20
    stream = Stream(cudart)
    buffers = PinnedBuffers(cudart, size)
    try:
        buffers.host[:] = 7
        buffers.upload(size, stream)
        stream.synchronize()
        buffers.host[:] = 0
        buffers.download(size, stream)
        stream.synchronize()
        assert int(buffers.host[-1]) == 7
        assert int(buffers.host[0]) == 7
    finally:
        buffers.close()
        stream.close()


def test_workers_copy_on_their_own_streams_at_once(cudart: ModuleType) -> None:
    failures: list[str] = []

    def worker(seed: int) -> None:
        stream = Stream(cudart)
        try:
            for round_number in range(20):
                generator = np.random.default_rng(seed * 100 + round_number)
                data = generator.integers(0, 256, 1 << 20, dtype=np.uint8)
                if not np.array_equal(round_trip(cudart, data, stream), data):
                    failures.append(f"worker {seed}, round {round_number}")
        except Exception as exc:
            failures.append(f"worker {seed}: {exc!r}")
        finally:
            stream.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_a_copy_past_the_buffers_is_refused_before_the_gpu_sees_it(cudart: ModuleType) -> None:
    stream = Stream(cudart)
    buffers = PinnedBuffers(cudart, 256)
    try:
        with pytest.raises(InferenceError, match="257 bytes does not fit a buffer of 256"):
            buffers.upload(257, stream)
        with pytest.raises(InferenceError, match="257 bytes does not fit a buffer of 256"):
            buffers.download(257, stream)
        buffers.close()
        with pytest.raises(InferenceError, match="closed"):
            buffers.upload(1, stream)
    finally:
        buffers.close()
        stream.close()


def test_more_memory_than_the_gpu_has_is_an_error_naming_the_call(cudart: ModuleType) -> None:
    refused = r"cudaMalloc failed: CUDA error 2 \(cudaErrorMemoryAllocation\)"
    with pytest.raises(InferenceError, match=refused):
        PinnedBuffers(cudart, 1 << 50)
    # The failure left the runtime usable.
    stream = Stream(cudart)
    try:
        data = np.arange(4096, dtype=np.uint8)
        assert np.array_equal(round_trip(cudart, data, stream), data)
    finally:
        stream.close()
