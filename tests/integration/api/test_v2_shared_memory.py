"""Triton's system shared memory extension through ``tritonclient.http`` and its own shared-memory
utilities, unchanged, against the real server on real ONNX models: inputs read from a region and
outputs written into one, with what a client gets wrong named in a 400 (Triton's words where it has
some), and an object cut short under the server a 400, never a crash. CUDA shared memory is
answered for a server without it."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException, shared_memory

from gateway.api.shared_memory_regions import SHARED_MEMORY_FOLDER
from tests.integration.api.conftest import Gateway, GatewayFactory
from tests.support.onnx_models import write_affine_model

ROWS = np.arange(12, dtype=np.float32).reshape(3, 4)
"""Three rows for the affine model's version 1, which answers 2 x + 1."""


@pytest.fixture
def client(gateway: Gateway) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(gateway.url, connection_timeout=10, network_timeout=30)
    yield client
    client.unregister_system_shared_memory()
    client.close()


@pytest.fixture
def key() -> Iterator[str]:
    """A shared-memory object's name no other test uses, and the object gone after the test."""
    name = f"/edge-gateway-test-{uuid.uuid4().hex}"
    yield name
    (SHARED_MEMORY_FOLDER / name.lstrip("/")).unlink(missing_ok=True)


def region(name: str, key: str, byte_size: int) -> shared_memory.SharedMemoryRegion:
    """tritonclient's region, made readable and writable by every user (it makes it its owner's
    alone), as the gateway takes no other."""
    handle = shared_memory.create_shared_memory_region(name, key, byte_size)
    (SHARED_MEMORY_FOLDER / key.lstrip("/")).chmod(0o666)
    return handle


@contextmanager
def rows_and_a_place(
    client: triton.InferenceServerClient, key: str, place: str, place_size: int
) -> Iterator[None]:
    """ROWS registered as region 'frames', and region ``place`` of ``place_size`` bytes after them,
    in one object."""
    handle = region("frames", key, 2 * ROWS.nbytes)
    try:
        shared_memory.set_shared_memory_region(handle, [ROWS])
        client.register_system_shared_memory("frames", key, ROWS.nbytes)
        client.register_system_shared_memory(place, key, place_size, offset=ROWS.nbytes)
        yield
    finally:
        shared_memory.destroy_shared_memory_region(handle)


def refusal(call: object) -> str:
    """The message of the 400 the call ``call`` gets."""
    assert callable(call)
    with pytest.raises(InferenceServerException) as refused:
        call()
    assert refused.value.status() == "400", refused.value
    return str(refused.value.message())


def regions_gauge(gateway: Gateway) -> float:
    """``edge_gateway_shared_memory_regions`` in the gateway's /metrics."""
    text = gateway.api.get("/metrics").body.decode()
    match = re.search(r"^edge_gateway_shared_memory_regions (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def test_inputs_are_read_from_a_region_and_outputs_written_into_one(
    client: triton.InferenceServerClient, gateway: Gateway, key: str
) -> None:
    # Given: one object holding the input at byte 64 of a region that starts at byte 128 of it, and
    # the output's place after it, as a client lays out one buffer
    size = ROWS.nbytes
    handle = region("frames", key, 1024)
    try:
        shared_memory.set_shared_memory_region(handle, [ROWS], offset=128 + 64)
        client.register_system_shared_memory("frames", key, 512, offset=128)
        client.register_system_shared_memory("results", key, size, offset=640)
        assert client.get_system_shared_memory_status() == [
            {"name": "frames", "key": key, "offset": 128, "byte_size": 512},
            {"name": "results", "key": key, "offset": 640, "byte_size": size},
        ]
        sent = triton.InferInput("INPUT0", list(ROWS.shape), "FP32")
        sent.set_shared_memory("frames", size, offset=64)
        wanted = triton.InferRequestedOutput("OUTPUT0")
        wanted.set_shared_memory("results", size)
        # When
        result = client.infer("affine", [sent], model_version="1", outputs=[wanted])
        # Then: the answer says where the output is, and it is there
        assert result.get_output("OUTPUT0") == {
            "name": "OUTPUT0",
            "datatype": "FP32",
            "shape": [3, 4],
            "parameters": {"shared_memory_region": "results", "shared_memory_byte_size": size},
        }
        written = shared_memory.get_contents_as_numpy(handle, np.float32, [3, 4], offset=640)
        np.testing.assert_array_equal(written, 2 * ROWS + 1)
        # And: unregistered, a region is gone from the status and cannot be used
        assert regions_gauge(gateway) == 2
        client.unregister_system_shared_memory("frames")
        assert [entry["name"] for entry in client.get_system_shared_memory_status()] == ["results"]
        assert regions_gauge(gateway) == 1
        message = refusal(lambda: client.infer("affine", [sent], model_version="1"))
        assert message == "input 'INPUT0': Unable to find system shared memory region: 'frames'"
    finally:
        shared_memory.destroy_shared_memory_region(handle)


def test_a_shared_input_and_a_binary_output_mix_in_one_request(
    client: triton.InferenceServerClient, key: str
) -> None:
    handle = region("frames", key, ROWS.nbytes)
    try:
        shared_memory.set_shared_memory_region(handle, [ROWS])
        client.register_system_shared_memory("frames", key, ROWS.nbytes)
        sent = triton.InferInput("INPUT0", list(ROWS.shape), "FP32")
        sent.set_shared_memory("frames", ROWS.nbytes)
        result = client.infer("affine", [sent], model_version="1")
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * ROWS + 1)
        # And: the client writes the next frame into the same region; the next answer is of it
        shared_memory.set_shared_memory_region(handle, [ROWS * 10])
        result = client.infer("affine", [sent], model_version="1")
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 20 * ROWS + 1)
    finally:
        shared_memory.destroy_shared_memory_region(handle)


def test_registering_what_is_not_there_is_a_400_naming_it(
    client: triton.InferenceServerClient, key: str
) -> None:
    missing = refusal(lambda: client.register_system_shared_memory("frames", key, 64))
    assert missing.startswith(
        f"failed to register shared memory region 'frames': no shared-memory object {key}"
    )
    handle = region("frames", key, 64)
    try:
        short = refusal(lambda: client.register_system_shared_memory("frames", key, 64, offset=8))
        assert short == (
            f"failed to register shared memory region 'frames': the object {key} holds 64 bytes, the "
            "region runs to byte 72 (64 from offset 8)"
        )
        escape = refusal(lambda: client.register_system_shared_memory("frames", "/../etc/passwd", 64))
        assert "'key' must be a POSIX shared-memory object's name" in escape
        client.register_system_shared_memory("frames", key, 64)
        again = refusal(lambda: client.register_system_shared_memory("frames", key, 64))
        assert again == "shared memory region 'frames' already in manager"
        unknown = refusal(lambda: client.get_system_shared_memory_status("other"))
        assert unknown == "Unable to find system shared memory region: 'other'"
    finally:
        shared_memory.destroy_shared_memory_region(handle)


def test_a_request_whose_tensors_do_not_fit_their_regions_is_a_400_naming_them(
    client: triton.InferenceServerClient, key: str
) -> None:
    with rows_and_a_place(client, key, "small", 8):
        sent = triton.InferInput("INPUT0", list(ROWS.shape), "FP32")
        sent.set_shared_memory("frames", ROWS.nbytes - 4)
        mismatch = refusal(lambda: client.infer("affine", [sent], model_version="1"))
        assert mismatch == (
            "input 'INPUT0': shared_memory_byte_size 44 does not match shape [3, 4] of FP32 (48 bytes)"
        )
        sent.set_shared_memory("frames", ROWS.nbytes, offset=4)
        past = refusal(lambda: client.infer("affine", [sent], model_version="1"))
        assert (
            past
            == "input 'INPUT0': 48 bytes from offset 4 run past shared memory region 'frames' of 48 bytes"
        )
        sent = triton.InferInput("INPUT0", list(ROWS.shape), "FP32")  # one with no offset left over
        sent.set_shared_memory("frames", ROWS.nbytes)
        wanted = triton.InferRequestedOutput("OUTPUT0")
        wanted.set_shared_memory("small", 8)
        small = refusal(lambda: client.infer("affine", [sent], model_version="1", outputs=[wanted]))
        assert small == (
            "shared memory size specified with the request for output 'OUTPUT0' (8 bytes) should be at "
            "least 48 bytes to hold the results"
        )


def test_an_object_cut_short_after_registering_is_a_400_and_the_server_serves_on(
    client: triton.InferenceServerClient, key: str
) -> None:
    # Given: a region registered, then its object truncated by its client (a mapping of it would
    # have killed the server with SIGBUS at the next read)
    handle = region("frames", key, ROWS.nbytes)
    try:
        client.register_system_shared_memory("frames", key, ROWS.nbytes)
        os.truncate(SHARED_MEMORY_FOLDER / key.lstrip("/"), 16)
        sent = triton.InferInput("INPUT0", list(ROWS.shape), "FP32")
        sent.set_shared_memory("frames", ROWS.nbytes)
        message = refusal(lambda: client.infer("affine", [sent], model_version="1"))
        assert message == (
            f"input 'INPUT0': shared memory region 'frames' was cut short: its object {key} ends before "
            "byte 48"
        )
        sent.set_data_from_numpy(ROWS)
        wanted = triton.InferRequestedOutput("OUTPUT0")
        wanted.set_shared_memory("frames", ROWS.nbytes)
        written = refusal(lambda: client.infer("affine", [sent], model_version="1", outputs=[wanted]))
        assert written == (
            f"output 'OUTPUT0': shared memory region 'frames' was cut short: its object {key} ends "
            "before byte 48"
        )
        # Then: the object was not grown by the write, and the server answers the next request
        assert (SHARED_MEMORY_FOLDER / key.lstrip("/")).stat().st_size == 16
        np.testing.assert_array_equal(
            client.infer("affine", [sent], model_version="1").as_numpy("OUTPUT0"), 2 * ROWS + 1
        )
    finally:
        shared_memory.destroy_shared_memory_region(handle)


def test_the_server_lists_system_shared_memory_and_answers_cuda_as_without_it(
    client: triton.InferenceServerClient,
) -> None:
    extensions = client.get_server_metadata()["extensions"]
    assert "system_shared_memory" in extensions
    assert "cuda_shared_memory" not in extensions
    assert client.get_cuda_shared_memory_status() == []
    client.unregister_cuda_shared_memory()
    message = refusal(lambda: client.register_cuda_shared_memory("frames", b"handle", 0, 64))
    assert "reads no CUDA IPC handles" in message


def test_a_request_level_region_is_a_400(gateway: Gateway) -> None:
    document = {
        "inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        "parameters": {"shared_memory_region": "frames"},
    }
    answer = gateway.api.post_json("/v2/models/affine/versions/1/infer", document)
    assert answer.status == 400
    assert answer.json() == {
        "error": "shared memory is named per tensor, in its own 'parameters', not the request's"
    }


def test_regions_are_registered_with_a_token_alone_where_tokens_are_set(
    make_gateway: GatewayFactory, key: str
) -> None:
    gateway = make_gateway(tokens=frozenset({"secret-token"}))
    handle = region("frames", key, 64)
    try:
        with triton.InferenceServerClient(gateway.url) as client:
            with pytest.raises(InferenceServerException) as refused:
                client.register_system_shared_memory("frames", key, 64)
            assert refused.value.status() == "401"
            with pytest.raises(InferenceServerException) as unlisted:
                client.get_system_shared_memory_status()
            assert unlisted.value.status() == "401"
            client.register_system_shared_memory(
                "frames", key, 64, headers={"Authorization": "Bearer secret-token"}
            )
            status = client.get_system_shared_memory_status(headers={"Authorization": "Bearer secret-token"})
            assert [entry["name"] for entry in status] == ["frames"]
    finally:
        shared_memory.destroy_shared_memory_region(handle)


def test_an_output_place_that_cannot_take_it_is_refused_before_the_model_runs(
    client: triton.InferenceServerClient, key: str
) -> None:
    with rows_and_a_place(client, key, "results", 8):
        runs = inference_count(client)
        sent = triton.InferInput("INPUT0", list(ROWS.shape), "FP32")
        sent.set_shared_memory("frames", ROWS.nbytes)
        for place, byte_size, said in (
            ("nope", ROWS.nbytes, "output 'OUTPUT0': Unable to find system shared memory region: 'nope'"),
            (
                "results",
                ROWS.nbytes,
                "output 'OUTPUT0': 48 bytes from offset 0 run past shared memory region 'results' of 8 bytes",
            ),
        ):
            wanted = triton.InferRequestedOutput("OUTPUT0")
            wanted.set_shared_memory(place, byte_size)
            assert (
                refusal(
                    lambda wanted=wanted: client.infer("affine", [sent], model_version="1", outputs=[wanted])
                )
                == said
            )
        # Then: the model ran for neither
        assert inference_count(client) == runs


def inference_count(client: triton.InferenceServerClient) -> int:
    statistics = client.get_inference_statistics("affine", "1")["model_stats"]
    return int(statistics[0]["inference_count"])


def test_an_object_is_taken_only_where_every_user_may_read_it(
    client: triton.InferenceServerClient, key: str
) -> None:
    # Given: an object its owner alone may read, as tritonclient and Python make them (whoever owns
    # it: a root-run gateway would otherwise read for a client what the client cannot)
    path = SHARED_MEMORY_FOLDER / key.lstrip("/")
    path.write_bytes(ROWS.tobytes())
    path.chmod(0o600)
    message = refusal(lambda: client.register_system_shared_memory("frames", key, ROWS.nbytes))
    assert message.startswith(
        f"failed to register shared memory region 'frames': the object {key} (mode 0600) is not "
        "readable by every user of this host"
    )
    # When: every user may read it, but not write it
    path.chmod(0o644)
    client.register_system_shared_memory("frames", key, ROWS.nbytes)
    # Then: it is an input, and no output
    sent = triton.InferInput("INPUT0", list(ROWS.shape), "FP32")
    sent.set_shared_memory("frames", ROWS.nbytes)
    result = client.infer("affine", [sent], model_version="1")
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * ROWS + 1)
    wanted = triton.InferRequestedOutput("OUTPUT0")
    wanted.set_shared_memory("frames", ROWS.nbytes)
    message = refusal(lambda: client.infer("affine", [sent], model_version="1", outputs=[wanted]))
    assert message.startswith("output 'OUTPUT0': shared memory region 'frames' is read-only to this server")
    # And: a region unregistered twice, or never registered, is no error (as in Triton)
    client.unregister_system_shared_memory("frames")
    client.unregister_system_shared_memory("frames")
    client.unregister_system_shared_memory("never")


def test_tensors_over_4_mib_travel_through_shared_memory_too(
    make_gateway: GatewayFactory, model_repository: Path, key: str
) -> None:
    # Given: a model whose one row is 4.4 MB, copied in and out on the API's thread pool
    write_affine_model(model_repository, "wide", dims=(1_100_000,), max_batch_size=1)
    gateway = make_gateway()
    row = np.random.default_rng(5).random((1, 1_100_000), dtype=np.float32)
    handle = region("frames", key, 2 * row.nbytes)
    try:
        shared_memory.set_shared_memory_region(handle, [row])
        with triton.InferenceServerClient(gateway.url, network_timeout=60) as client:
            client.register_system_shared_memory("frames", key, row.nbytes)
            client.register_system_shared_memory("results", key, row.nbytes, offset=row.nbytes)
            sent = triton.InferInput("INPUT0", list(row.shape), "FP32")
            sent.set_shared_memory("frames", row.nbytes)
            wanted = triton.InferRequestedOutput("OUTPUT0")
            wanted.set_shared_memory("results", row.nbytes)
            client.infer("wide", [sent], outputs=[wanted])
        written = shared_memory.get_contents_as_numpy(handle, np.float32, list(row.shape), offset=row.nbytes)
        np.testing.assert_array_equal(written, 2 * row + 1)
    finally:
        shared_memory.destroy_shared_memory_region(handle)
