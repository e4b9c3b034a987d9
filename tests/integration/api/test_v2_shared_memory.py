"""Triton's shared-memory routes on a server without shared memory, through tritonclient.http and
real HTTP: answered in Triton's shapes with what is true, never a bare 404."""

from __future__ import annotations

import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.api.conftest import Gateway


def test_no_region_is_registered_and_unregistering_finds_nothing_to_do(gateway: Gateway) -> None:
    with triton.InferenceServerClient(gateway.url) as client:
        # When a client asks for the regions (it was answered 404 "Not Found")
        assert client.get_system_shared_memory_status() == []
        assert client.get_cuda_shared_memory_status() == []
        # And unregisters everything, or one region, as clients do when they clean up
        client.unregister_system_shared_memory()
        client.unregister_system_shared_memory("frames")
        client.unregister_cuda_shared_memory()


def test_registering_a_region_is_a_400_that_says_why(gateway: Gateway) -> None:
    with (
        triton.InferenceServerClient(gateway.url) as client,
        pytest.raises(InferenceServerException) as refused,
    ):
        client.register_system_shared_memory("frames", "/frames", 1024)
    assert refused.value.status() == "400"
    message = str(refused.value.message())
    assert "system shared memory region 'frames'" in message
    assert "does not support shared memory" in message


def test_the_status_of_a_region_it_does_not_hold_is_a_400_naming_it(gateway: Gateway) -> None:
    with (
        triton.InferenceServerClient(gateway.url) as client,
        pytest.raises(InferenceServerException) as refused,
    ):
        client.get_system_shared_memory_status("frames")
    assert refused.value.status() == "400"
    assert "'frames'" in str(refused.value.message())


def test_the_server_lists_no_shared_memory_extension(gateway: Gateway) -> None:
    with triton.InferenceServerClient(gateway.url) as client:
        extensions = client.get_server_metadata()["extensions"]
    assert not {"system_shared_memory", "cuda_shared_memory"} & set(extensions)
