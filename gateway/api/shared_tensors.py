"""Tensors moved between an inference request and the shared-memory regions it names: its inputs
read from theirs before it is checked and queued, its outputs written into theirs before it is
answered (shared_memory_regions.py holds the regions; tensors.py parses where each tensor is)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from gateway.api.shared_memory_regions import SharedMemoryRegions, on_this_host
from gateway.api.tensors import InferRequest, check_bool_bytes
from gateway.domain import TensorType
from gateway.errors import InvalidInputError

__all__ = [
    "check_shared_request",
    "names_shared_memory",
    "read_inputs",
    "shared_input_bytes",
    "shared_output_bytes",
    "write_outputs",
]

Array = npt.NDArray[np.generic]


def shared_input_bytes(request: InferRequest) -> int:
    return sum(shared.place.byte_size for shared in request.shared_inputs)


def shared_output_bytes(request: InferRequest, outputs: Mapping[str, Array]) -> int:
    return sum(
        outputs[wanted.name].nbytes
        for wanted in request.outputs or ()
        if wanted.shared is not None and wanted.name in outputs
    )


def read_inputs(request: InferRequest, regions: SharedMemoryRegions, most_bytes: int) -> InferRequest:
    """``request`` with its inputs in shared memory read into arrays of their own (a copy: the
    client may write the region again as soon as it is answered). ``most_bytes`` bounds them all
    together, as a body is bounded."""
    total = shared_input_bytes(request)
    if total > most_bytes:
        raise InvalidInputError(
            f"the inputs in shared memory take {total} bytes, more than the {most_bytes} a request may carry"
        )
    inputs = dict(request.inputs)
    for shared in request.shared_inputs:
        try:
            array = np.empty(shared.shape, dtype=shared.datatype.numpy_dtype)
        except ValueError as exc:
            # A zero-sized tensor whose other dimensions multiply past what numpy can index.
            raise InvalidInputError(
                f"input {shared.name!r}: shape {list(shared.shape)} cannot be built: {exc}"
            ) from None
        data = array.reshape(-1).view(np.uint8).data
        regions.read(shared.place.region, shared.place.offset, data, shared.name)
        if shared.datatype is TensorType.BOOL:
            check_bool_bytes(shared.name, data)
        inputs[shared.name] = array
    return dataclasses.replace(request, inputs=inputs, shared_inputs=())


def names_shared_memory(request: InferRequest) -> bool:
    return bool(request.shared_inputs) or any(wanted.shared is not None for wanted in request.outputs or ())


def check_shared_request(request: InferRequest, remote: str | None, regions: SharedMemoryRegions) -> None:
    """InvalidInputError for a request that names shared memory from another host (the regions are
    this host's), or whose output's place cannot take it whatever the result (a region not
    registered, read-only, or too small for the place): checked before the request costs a model
    run, as Triton checks it when it parses the request."""
    if not on_this_host(remote):
        raise InvalidInputError(
            "system shared memory is this host's: only a client on it may name a region, not "
            f"{remote or 'an unknown address'}"
        )
    for wanted in request.outputs or ():
        place = wanted.shared
        if place is not None:
            regions.check(
                place.region, place.offset, place.byte_size, f"output {wanted.name!r}", written=True
            )


def write_outputs(request: InferRequest, outputs: Mapping[str, Array], regions: SharedMemoryRegions) -> None:
    """Write each output the request asked for in shared memory into its place, or InvalidInputError
    (Triton's words) for a place too small to hold it."""
    for wanted in request.outputs or ():
        place, array = wanted.shared, outputs.get(wanted.name)
        if place is None or array is None:
            continue
        data = np.ascontiguousarray(array).reshape(-1).view(np.uint8).data
        if data.nbytes > place.byte_size:
            raise InvalidInputError(
                f"shared memory size specified with the request for output '{wanted.name}' "
                f"({place.byte_size} bytes) should be at least {data.nbytes} bytes to hold the results"
            )
        regions.write(place.region, place.offset, data, wanted.name)
