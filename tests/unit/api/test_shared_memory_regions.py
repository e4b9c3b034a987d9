"""The shared-memory regions' bookkeeping on real files in a folder of the test's own, standing in
for /dev/shm (tests/integration/api/test_v2_shared_memory.py goes through /dev/shm and HTTP): what is
not a shared-memory object is refused, descriptors are given back, and a request's inputs are
bounded and checked as a body's are."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.api import shared_memory
from gateway.api.request_parameters import SharedPlace
from gateway.api.shared_memory_regions import MAX_REGIONS, SharedMemoryRegions, on_this_host
from gateway.api.shared_tensors import check_shared_request, read_inputs
from gateway.api.tensors import InferRequest, SharedInput
from gateway.domain import TensorType
from gateway.errors import InvalidInputError


@pytest.fixture
def regions(tmp_path: Path) -> Iterator[SharedMemoryRegions]:
    regions = SharedMemoryRegions(tmp_path)
    yield regions
    regions.close()


def shared_object(folder: Path, data: bytes) -> Path:
    """An object of ``data`` in ``folder``, which every user may read and write."""
    path = folder / "object"
    path.write_bytes(data)
    path.chmod(0o666)
    return path


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def request_of(*shared: SharedInput) -> InferRequest:
    return InferRequest(None, {}, None, binary_default=False, timeout_s=None, shared_inputs=shared)


def test_a_link_a_fifo_and_a_folder_are_no_objects(regions: SharedMemoryRegions, tmp_path: Path) -> None:
    shared_object(tmp_path, bytes(64))
    (tmp_path / "link").symlink_to(tmp_path / "object")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InvalidInputError, match="is a symbolic link, not an object"):
        regions.register("frames", "/link", 0, 64)
    with pytest.raises(InvalidInputError, match="/fifo is not a shared-memory object"):
        regions.register("frames", "/fifo", 0, 64)
    with pytest.raises(InvalidInputError, match="the object /folder cannot be opened: Is a directory"):
        regions.register("frames", "/folder", 0, 64)
    assert regions.status(None) == []


def test_keys_that_name_another_folder_are_refused(regions: SharedMemoryRegions) -> None:
    for key in ("/../object", "a/b", "//double", "", "/", "/..", 7, "/a\ud800"):
        with pytest.raises(InvalidInputError, match="'key' must be a POSIX shared-memory object's name"):
            regions.register("frames", key, 0, 64)


def test_offsets_and_sizes_must_be_counts(regions: SharedMemoryRegions, tmp_path: Path) -> None:
    shared_object(tmp_path, bytes(64))
    for offset, byte_size in ((-1, 8), (0, -8), (True, 8), (0, 0), (0, 1.5)):
        with pytest.raises(InvalidInputError, match=r"'(offset|byte_size)' must be"):
            regions.register("frames", "/object", offset, byte_size)


def test_descriptors_are_given_back_and_registration_is_bounded(
    regions: SharedMemoryRegions, tmp_path: Path
) -> None:
    shared_object(tmp_path, bytes(64))
    before = open_descriptors()
    for number in range(MAX_REGIONS):
        regions.register(f"region-{number}", "/object", 0, 64)
    assert open_descriptors() == before + MAX_REGIONS
    with pytest.raises(InvalidInputError, match=f"{MAX_REGIONS} regions are registered"):
        regions.register("one-more", "/object", 0, 64)
    # When: one region is read and another written; one unregistered by name, then all
    data = bytearray(8)
    regions.read("region-0", 0, memoryview(data), "input")
    regions.write("region-1", 8, memoryview(b"12345678"), "output")
    regions.unregister("region-0")
    assert open_descriptors() == before + MAX_REGIONS - 1
    regions.unregister(None)
    # Then
    assert open_descriptors() == before
    assert (tmp_path / "object").read_bytes()[8:16] == b"12345678"


def test_inputs_in_shared_memory_are_bounded_together(regions: SharedMemoryRegions, tmp_path: Path) -> None:
    shared_object(tmp_path, np.arange(16, dtype=np.float32).tobytes())
    regions.register("frames", "/object", 0, 64)
    first = SharedInput("a", SharedPlace("frames", 0, 32), TensorType.FP32, (8,))
    second = SharedInput("b", SharedPlace("frames", 32, 32), TensorType.FP32, (2, 4))
    with pytest.raises(InvalidInputError, match="take 64 bytes, more than the 63 a request may carry"):
        read_inputs(request_of(first, second), regions, 63)
    read = read_inputs(request_of(first, second), regions, 64)
    assert read.shared_inputs == ()
    np.testing.assert_array_equal(read.inputs["a"], np.arange(8, dtype=np.float32))
    np.testing.assert_array_equal(read.inputs["b"], np.arange(8, 16, dtype=np.float32).reshape(2, 4))


def test_a_bool_input_in_shared_memory_takes_bytes_0_and_1(
    regions: SharedMemoryRegions, tmp_path: Path
) -> None:
    shared_object(tmp_path, bytes([0, 1, 2, 1]))
    regions.register("flags", "/object", 0, 4)
    flags = SharedInput("flags", SharedPlace("flags", 0, 4), TensorType.BOOL, (4,))
    with pytest.raises(InvalidInputError, match="byte 2 of its data is 2"):
        read_inputs(request_of(flags), regions, 64)


def test_a_zero_sized_input_too_large_to_index_is_refused(
    regions: SharedMemoryRegions, tmp_path: Path
) -> None:
    shared_object(tmp_path, bytes(4))
    regions.register("frames", "/object", 0, 4)
    shape = (0, 2**31 - 1, 2**31 - 1, 2**31 - 1)
    empty = SharedInput("a", SharedPlace("frames", 0, 0), TensorType.FP32, shape)
    with pytest.raises(InvalidInputError, match=r"input 'a': shape \[0, 2147483647, .*\] cannot be built"):
        read_inputs(request_of(empty), regions, 64)


@pytest.mark.parametrize(
    ("remote", "here"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("fe80::1", False),
        ("localhost", False),
        ("", False),
        (None, False),
    ],
)
def test_only_a_loopback_address_is_on_this_host(remote: str | None, here: bool) -> None:
    assert on_this_host(remote) is here


def test_a_request_from_another_host_names_no_region(regions: SharedMemoryRegions, tmp_path: Path) -> None:
    shared_object(tmp_path, bytes(16))
    regions.register("frames", "/object", 0, 16)
    request = request_of(SharedInput("a", SharedPlace("frames", 0, 16), TensorType.FP32, (4,)))
    check_shared_request(request, "127.0.0.1", regions)
    with pytest.raises(InvalidInputError, match=r"only a client on it may name a region, not 10\.0\.0\.5"):
        check_shared_request(request, "10.0.0.5", regions)


def test_an_object_not_every_user_may_read_or_write_is_refused_or_read_only(
    regions: SharedMemoryRegions, tmp_path: Path
) -> None:
    path = shared_object(tmp_path, bytes(16))
    path.chmod(0o600)
    with pytest.raises(InvalidInputError, match=r"\(mode 0600\) is not readable by every user"):
        regions.register("frames", "/object", 0, 16)
    path.chmod(0o644)
    regions.register("frames", "/object", 0, 16)
    regions.read("frames", 0, memoryview(bytearray(16)), "input")
    with pytest.raises(
        InvalidInputError, match="read-only to this server: an output needs an object every user"
    ):
        regions.check("frames", 0, 16, "output 'o'", written=True)


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        ("POST", "/v2/systemsharedmemory/region/frames/register", shared_memory._register),
        ("POST", "/v2/systemsharedmemory/unregister", shared_memory._unregister),
        ("GET", "/v2/systemsharedmemory/status", shared_memory._status),
    ],
)
def test_the_routes_answer_a_client_elsewhere_with_a_403(
    method: str, path: str, handler: Callable[[web.Request], Coroutine[Any, Any, web.Response]]
) -> None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("10.0.0.5", 40000) if name == "peername" else default
    )
    request = make_mocked_request(method, path, transport=transport)
    answer = asyncio.run(handler(request))
    assert answer.status == 403
    assert isinstance(answer.body, bytes)
    assert b"only a client on it (a loopback address) may use these routes, not 10.0.0.5" in answer.body
