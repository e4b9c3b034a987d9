"""Open Inference Protocol v2 tensors on the wire: JSON ``data`` and the binary tensor data extension.

Request body: a JSON inference header, optionally followed by raw tensor bytes. The header's length
is the ``Inference-Header-Content-Length`` HTTP header; each binary input says how many bytes it
takes with ``parameters.binary_data_size``, and the bytes follow the header in input order. Outputs
are sent the same way when asked for with ``parameters.binary_data`` (per output) or
``parameters.binary_data_output`` (whole request), which is what ``tritonclient.http`` does by
default. A tensor may instead name where it is in a registered shared-memory region
(``parameters.shared_memory_region``): such an input is listed in ``InferRequest.shared_inputs``
for shared_tensors.py to read, and such an output is answered with its place, not its data.
Everything here is pure: bytes in, numpy arrays and bytes out, ``InvalidInputError`` on anything
malformed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.api.classification import binary_strings, top_classes
from gateway.api.json_body import load_json
from gateway.api.json_data import json_array
from gateway.api.request_parameters import (
    RequestedOutput,
    SharedPlace,
    check_request_parameters,
    flag,
    parameters_of,
    parse_outputs,
    shared_place,
    timeout_of,
)
from gateway.domain import ModelVersionStatus, TensorSpec, TensorType, ascii_integer
from gateway.errors import InferenceError, InvalidInputError

__all__ = [
    "HEADER_LENGTH",
    "InferRequest",
    "InferResponse",
    "RequestedOutput",
    "SharedInput",
    "check_against_model",
    "check_bool_bytes",
    "encode_binary_request",
    "encode_infer_response",
    "json_output_values",
    "parse_infer_request",
    "specs_json",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_RANK = 32
"""Dimensions a request tensor may have: numpy builds at most 64, ONNX models take a handful."""
MAX_DIMENSION = 2**31 - 1
"""Largest size of one dimension (ONNX Runtime's tensors index in 64 bits, but no input is this
large; bigger only makes numpy fail on a zero-sized tensor)."""

Array = npt.NDArray[np.generic]
# TensorType.from_numpy builds a dtype per member on every call (tens of microseconds); a dict
# lookup is what the hot path can afford. BYTES is left out: it is not served.
_TYPES_BY_DTYPE: Mapping[np.dtype[np.generic], TensorType] = {
    member.numpy_dtype: member for member in TensorType if member is not TensorType.BYTES
}


@dataclass(frozen=True, slots=True)
class InferResponse:
    """The JSON header and the binary tensors that follow it, kept apart so that the tensors go to
    the socket from the model's own output arrays, never joined into one more copy."""

    header: bytes
    tensors: tuple[memoryview, ...]

    @property
    def json_length(self) -> int | None:
        """The ``Inference-Header-Content-Length`` to send; None for a pure JSON answer."""
        return len(self.header) if self.tensors else None

    @property
    def size(self) -> int:
        return len(self.header) + sum(tensor.nbytes for tensor in self.tensors)

    def joined(self) -> bytes:
        return b"".join((self.header, *self.tensors))


@dataclass(frozen=True, slots=True)
class SharedInput:
    """An input whose bytes are in a shared-memory region, to be read into an array of its type and
    shape (shared_tensors.py)."""

    name: str
    place: SharedPlace
    datatype: TensorType
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class InferRequest:
    request_id: str | None
    inputs: Mapping[str, Array]
    """The inputs sent in the body; those in shared memory join them once read."""
    outputs: tuple[RequestedOutput, ...] | None
    """None: every output of the model, binary or not as ``binary_default`` says."""
    binary_default: bool
    timeout_s: float | None
    """Triton's ``timeout`` request parameter (sent in microseconds), as seconds: how long the
    request may wait in the queue (once started it runs to its end); None without one or with 0,
    which Triton reads as no timeout."""
    shared_inputs: tuple[SharedInput, ...] = ()


def parse_infer_request(body: bytes | bytearray | memoryview, header_length: str | None) -> InferRequest:
    """Decode an infer request body; raise InvalidInputError naming the problem."""
    header_bytes, binary, what = _split_body(body, header_length)
    header = load_json(header_bytes, what)
    if not isinstance(header, dict):
        raise InvalidInputError("the inference request must be a JSON object")
    parameters = parameters_of(header, "request")
    if "shared_memory_region" in parameters:
        raise InvalidInputError(
            "shared memory is named per tensor, in its own 'parameters', not the request's"
        )
    check_request_parameters(parameters)
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInputError("'inputs' must be a non-empty list of tensors")
    inputs: dict[str, Array] = {}
    shared: dict[str, SharedInput] = {}
    offset = 0
    for position, raw in enumerate(raw_inputs):
        name, array, used = _parse_input(raw, position, binary, offset)
        if name in inputs or name in shared:
            raise InvalidInputError(f"input {name!r} is given twice")
        if isinstance(array, SharedInput):
            shared[name] = array
        else:
            inputs[name] = array
        offset += used
    if offset != len(binary):
        raise InvalidInputError(
            f"the body carries {len(binary)} bytes of binary tensor data but the inputs declare {offset}"
        )
    binary_default = flag(parameters, "binary_data_output", False, "request")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        # Echoed back as sent: str() of an object would answer with Python's spelling of it.
        raise InvalidInputError(f"'id' must be a string, got {json.dumps(request_id)[:40]}")
    return InferRequest(
        request_id=request_id,
        inputs=inputs,
        outputs=parse_outputs(header.get("outputs"), binary_default),
        binary_default=binary_default,
        timeout_s=timeout_of(parameters.get("timeout")),
        shared_inputs=tuple(shared.values()),
    )


def _split_body(
    body: bytes | bytearray | memoryview, header_length: str | None
) -> tuple[memoryview, memoryview, str]:
    """The JSON header's bytes, the binary tensors' bytes, and how to name the header in errors."""
    # A view, not a slice: the tensor bytes are read in place by np.frombuffer, never copied here.
    view = memoryview(body)
    if header_length is None:
        return view, view[:0], "request body"
    length = ascii_integer(header_length)
    if length is None and header_length.isascii() and header_length.isdigit():
        length = len(body) + 1  # more digits than any body's length: said as the mismatch it is
    if length is None:
        raise InvalidInputError(f"{HEADER_LENGTH} must be an integer, got {header_length[:40]!r}")
    if length == 0:
        return view, view[:0], "request body"  # as Triton: 0 says the whole body is the JSON header
    if length > len(body):
        raise InvalidInputError(
            f"{HEADER_LENGTH} {header_length[:40]} does not fit a body of {len(body)} bytes"
        )
    # A length that cuts the JSON short (or runs into the tensors) must be blamed, not the JSON.
    what = f"the inference header (the body's first {length} bytes, as {HEADER_LENGTH} says)"
    return view[:length], view[length:], what


def encode_binary_request(inputs: Mapping[str, Array]) -> tuple[bytes, dict[str, str]]:
    """The client side of ``parse_infer_request``: every input as a binary tensor, every output
    asked for in binary, as ``tritonclient.http`` sends them. Returns the body and its headers."""
    tensors = {name: np.ascontiguousarray(array) for name, array in inputs.items()}
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(array.shape),
                    "datatype": _datatype(name, array).value,
                    "parameters": {"binary_data_size": array.nbytes},
                }
                for name, array in tensors.items()
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    body = b"".join([header, *(array.tobytes() for array in tensors.values())])
    return body, {HEADER_LENGTH: str(len(header)), "Content-Type": "application/octet-stream"}


def check_against_model(request: InferRequest, status: ModelVersionStatus) -> None:
    """Names, datatypes, ranks, fixed dimensions and the batch size, as the model declares them."""
    expected = {spec.name: spec for spec in status.inputs}
    unknown = sorted(set(request.inputs) - set(expected))
    if unknown:
        raise InvalidInputError(
            f"model {status.name} has no input {unknown[0]!r}; inputs: {sorted(expected)}"
        )
    missing = sorted(set(expected) - set(request.inputs))
    if missing:
        raise InvalidInputError(f"model {status.name} needs input {missing[0]!r}")
    for name, array in request.inputs.items():
        _check_tensor(name, array, expected[name], status.max_batch_size)
    if request.outputs is not None:
        outputs = {spec.name for spec in status.outputs}
        for output in request.outputs:
            if output.name not in outputs:
                raise InvalidInputError(
                    f"model {status.name} has no output {output.name!r}; outputs: {sorted(outputs)}"
                )


def encode_infer_response(
    *,
    model_name: str,
    model_version: int,
    request: InferRequest,
    outputs: Mapping[str, Array],
    labels: Mapping[str, Sequence[str]] | None = None,
) -> InferResponse:
    """The response: its JSON header and the binary tensors that follow it (if any were asked for).
    ``labels`` names the classes of outputs asked for as classifications (classification.py)."""
    wanted = request.outputs or tuple(RequestedOutput(name, request.binary_default) for name in outputs)
    entries: list[dict[str, Any]] = []
    chunks: list[memoryview] = []
    for requested in wanted:
        array = outputs.get(requested.name)
        if array is None:
            raise InferenceError(f"the model returned no output {requested.name!r}")
        if requested.shared is not None:
            # Written into its region before the answer (shared_tensors.py): the answer says where.
            entries.append(_shared_entry(requested.name, requested.shared, array))
            continue
        if requested.classes:
            entry, chunk = _classification_entry(requested, array, (labels or {}).get(requested.name, ()))
            if chunk is not None:
                chunks.append(chunk)
            entries.append(entry)
            continue
        entry = {
            "name": requested.name,
            "datatype": _datatype(requested.name, array).value,
            "shape": list(array.shape),
        }
        if requested.binary:
            # Flat bytes through a uint8 view: memoryview.cast refuses a shape with a zero in it
            # (an empty output of shape [2, 0]).
            data = np.ascontiguousarray(array).reshape(-1).view(np.uint8).data
            entry["parameters"] = {"binary_data_size": data.nbytes}
            chunks.append(data)
        else:
            entry["data"] = array.ravel().tolist()
        entries.append(entry)
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": str(model_version),
        "outputs": entries,
    }
    if request.request_id:  # as Triton: an empty id is not echoed
        response["id"] = request.request_id
    header = json.dumps(response, separators=(",", ":")).encode()
    return InferResponse(header, tuple(chunks))


def _shared_entry(name: str, place: SharedPlace, array: Array) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "shared_memory_region": place.region,
        "shared_memory_byte_size": array.nbytes,
    }
    if place.offset:
        parameters["shared_memory_offset"] = place.offset
    return {
        "name": name,
        "datatype": _datatype(name, array).value,
        "shape": list(array.shape),
        "parameters": parameters,
    }


def _classification_entry(
    requested: RequestedOutput, array: Array, labels: Sequence[str]
) -> tuple[dict[str, Any], memoryview | None]:
    strings, shape = top_classes(requested.name, array, requested.classes, labels)
    entry: dict[str, Any] = {"name": requested.name, "datatype": TensorType.BYTES.value, "shape": shape}
    if not requested.binary:
        entry["data"] = strings
        return entry, None
    data = binary_strings(strings)
    entry["parameters"] = {"binary_data_size": len(data)}
    return entry, memoryview(data)


def json_output_values(request: InferRequest, outputs: Mapping[str, Array]) -> int:
    """How many tensor values the response will write as JSON text (binary ones cost nothing)."""
    if request.outputs is None:
        return 0 if request.binary_default else sum(array.size for array in outputs.values())
    return sum(
        outputs[wanted.name].size
        for wanted in request.outputs
        if not wanted.binary and wanted.shared is None and wanted.name in outputs
    )


def _parse_input(
    raw: object, position: int, binary: memoryview, offset: int
) -> tuple[str, Array | SharedInput, int]:
    if not isinstance(raw, dict):
        raise InvalidInputError(f"inputs[{position}] must be a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"inputs[{position}] needs a 'name'")
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(dim, int) and not isinstance(dim, bool) and 0 <= dim <= MAX_DIMENSION for dim in shape
    ):
        raise InvalidInputError(
            f"input {name!r}: 'shape' must be a list of integers from 0 to {MAX_DIMENSION}"
        )
    if len(shape) > MAX_RANK:
        raise InvalidInputError(f"input {name!r}: {len(shape)} dimensions, at most {MAX_RANK} are taken")
    datatype = _tensor_type(name, raw.get("datatype"))
    dtype = datatype.numpy_dtype
    count = math.prod(shape)
    parameters = parameters_of(raw, f"input {name!r}")
    place = shared_place(parameters, f"input {name!r}")
    if place is not None:
        return name, _shared_input(name, raw, place, datatype, shape), 0
    size = parameters.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInputError(f"input {name!r}: binary_data_size must be a non-negative integer")
        if "data" in raw:
            raise InvalidInputError(f"input {name!r} has both binary_data_size and 'data'")
        if size != count * dtype.itemsize:
            raise InvalidInputError(
                f"input {name!r}: binary_data_size {size} does not match shape {shape} of {datatype.value} "
                f"({count * dtype.itemsize} bytes)"
            )
        if offset + size > len(binary):
            raise InvalidInputError(
                f"input {name!r}: binary_data_size {size} runs past the end of the body's binary data"
            )
        array = np.frombuffer(binary, dtype=dtype, count=count, offset=offset)
        if datatype is TensorType.BOOL:
            check_bool_bytes(name, binary[offset : offset + size])
        return name, _shaped(name, array, shape), size
    if "data" not in raw:
        raise InvalidInputError(f"input {name!r} has neither 'data' nor binary_data_size")
    array = json_array(name, raw["data"], datatype)
    if array.size != count:
        raise InvalidInputError(f"input {name!r}: {array.size} values do not fill shape {shape}")
    return name, _shaped(name, array, shape), 0


def _shared_input(
    name: str, raw: Mapping[str, Any], place: SharedPlace, datatype: TensorType, shape: list[int]
) -> SharedInput:
    if "data" in raw or "binary_data_size" in raw.get("parameters", {}):
        given = "'data'" if "data" in raw else "binary_data_size"
        raise InvalidInputError(f"input {name!r} has both shared_memory_region and {given}")
    expected = math.prod(shape) * datatype.numpy_dtype.itemsize
    if place.byte_size != expected:
        raise InvalidInputError(
            f"input {name!r}: shared_memory_byte_size {place.byte_size} does not match shape {shape} "
            f"of {datatype.value} ({expected} bytes)"
        )
    return SharedInput(name, place, datatype, tuple(shape))


def check_bool_bytes(name: str, data: memoryview) -> None:
    """numpy reads any byte as a bool without a word, but Triton's BOOL is one byte, 0 or 1: a 2
    is a client's encoding error (an INT8 buffer sent as BOOL), not a true."""
    values = np.frombuffer(data, dtype=np.uint8)
    if values.size and int(values.max()) > 1:
        position = int(np.argmax(values > 1))
        raise InvalidInputError(
            f"input {name!r}: BOOL takes bytes 0 and 1, byte {position} of its data is {values[position]}"
        )


def _shaped(name: str, array: Array, shape: list[int]) -> Array:
    try:
        return array.reshape(shape)
    except ValueError as exc:
        # A zero-sized tensor whose other dimensions multiply past what numpy can index.
        raise InvalidInputError(f"input {name!r}: shape {shape} cannot be built: {exc}") from None


def _tensor_type(name: str, raw: object) -> TensorType:
    try:
        datatype = TensorType(raw)
    except ValueError:
        known = ", ".join(member.value for member in TensorType)
        raise InvalidInputError(f"input {name!r}: unknown datatype {raw!r}; one of {known}") from None
    if datatype is TensorType.BYTES:
        raise InvalidInputError(f"input {name!r}: BYTES tensors are not supported by this server")
    return datatype


def _check_tensor(name: str, array: Array, spec: TensorSpec, max_batch_size: int) -> None:
    datatype = _TYPES_BY_DTYPE.get(array.dtype)
    if datatype is None:
        raise InvalidInputError(f"input {name!r}: numpy dtype {array.dtype} has no v2 datatype")
    if datatype is not spec.datatype:
        raise InvalidInputError(
            f"input {name!r}: datatype {datatype.value}, the model takes {spec.datatype.value}"
        )
    shape = array.shape
    if len(shape) != len(spec.shape) or any(
        want not in (-1, got) for got, want in zip(shape, spec.shape, strict=True)
    ):
        raise InvalidInputError(f"input {name!r}: shape {list(shape)}, the model takes {list(spec.shape)}")
    if max_batch_size > 0 and shape and not 1 <= shape[0] <= max_batch_size:
        raise InvalidInputError(f"input {name!r}: batch of {shape[0]}, the model takes 1 to {max_batch_size}")


def _datatype(name: str, array: Array) -> TensorType:
    datatype = _TYPES_BY_DTYPE.get(array.dtype)
    if datatype is None:
        raise InferenceError(f"tensor {name!r}: numpy dtype {array.dtype} has no v2 datatype")
    return datatype


def specs_json(specs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    """Tensor metadata as the v2 model metadata response lists it."""
    return [{"name": spec.name, "datatype": spec.datatype.value, "shape": list(spec.shape)} for spec in specs]
