"""OIP v2 request and output parameters: Triton's reserved ones checked for their types (even where
they change nothing here), the client's own taken only of Triton's types, and the outputs a request
asks for. Pure: JSON values in, InvalidInputError naming the parameter on anything malformed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class SharedPlace:
    """Where in a registered shared-memory region a tensor's bytes are (Triton's
    ``shared_memory_region``, ``shared_memory_offset`` and ``shared_memory_byte_size``)."""

    region: str
    offset: int
    byte_size: int


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary: bool
    classes: int = 0
    """Triton's ``classification`` parameter: answer the top this many classes per row (0: the
    tensor itself; classification.py)."""
    shared: SharedPlace | None = None
    """Where the output is written instead of the answer's body (shared_memory_regions.py)."""


def parse_outputs(raw: object, binary_default: bool) -> tuple[RequestedOutput, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidInputError("'outputs' must be a list")
    requested: list[RequestedOutput] = []
    names: set[str] = set()
    for position, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InvalidInputError(f"outputs[{position}] must be an object with a 'name'")
        if entry["name"] in names:
            # As Triton (core#493): refused, rather than answered twice or once.
            raise InvalidInputError(f"output {entry['name']!r} is requested twice")
        names.add(entry["name"])
        parameters = parameters_of(entry, f"output {entry['name']!r}")
        classes = parameters.get("classification", 0)
        if not unsigned_64(classes):
            raise InvalidInputError(
                f"output {entry['name']!r}: 'classification' must be a non-negative integer "
                f"(how many classes), got {json.dumps(classes)[:40]}"
            )
        what = f"output {entry['name']!r}"
        shared = shared_place(parameters, what)
        if shared is not None and classes:
            raise InvalidInputError(f"{what}: a classification cannot be written to shared memory")
        binary = flag(parameters, "binary_data", binary_default, what)
        requested.append(RequestedOutput(entry["name"], binary, classes, shared))
    return tuple(requested) or None


def parameters_of(container: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    parameters = container.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInputError(f"{what}: 'parameters' must be a JSON object")
    return parameters


SHARED_PARAMETERS = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")


def shared_place(parameters: Mapping[str, Any], what: str) -> SharedPlace | None:
    """Where a tensor's ``parameters`` put it in shared memory, or None where they name no region;
    the byte size is needed with a region, as Triton needs it."""
    region = parameters.get("shared_memory_region")
    if region is None:
        others = [name for name in SHARED_PARAMETERS[1:] if name in parameters]
        if others:
            raise InvalidInputError(f"{what}: {others[0]!r} is given without 'shared_memory_region'")
        return None
    if not isinstance(region, str) or not region:
        raise InvalidInputError(f"{what}: 'shared_memory_region' must be a region's name")
    if "shared_memory_byte_size" not in parameters:
        raise InvalidInputError(f"{what}: 'shared_memory_byte_size' is needed with 'shared_memory_region'")
    byte_size, offset = parameters["shared_memory_byte_size"], parameters.get("shared_memory_offset", 0)
    for name, value in (("shared_memory_byte_size", byte_size), ("shared_memory_offset", offset)):
        if not unsigned_64(value):
            raise InvalidInputError(
                f"{what}: {name!r} must be a non-negative integer, got {json.dumps(value)[:40]}"
            )
    return SharedPlace(region, offset, byte_size)


def check_request_parameters(parameters: Mapping[str, Any]) -> None:
    """Triton's reserved request parameters must have their types even where they change nothing:
    there are no sequence models here (a sequence id on a model without a sequence batcher is
    ignored, as by Triton), nor priority levels (every request has the default one, as Triton gives
    a model without levels). Other parameters are the client's own, but only of Triton's types."""
    for name, value in parameters.items():
        if name.startswith("triton_"):
            raise InvalidInputError(f"request parameter {name!r}: names starting with 'triton_' are reserved")
        if name in ("sequence_start", "sequence_end"):
            flag(parameters, name, False, "request")
        elif name == "sequence_id" and not (isinstance(value, str) or unsigned_64(value)):
            raise InvalidInputError(
                f"the 'sequence_id' parameter must be an unsigned 64-bit integer or a string, "
                f"got {json.dumps(value)[:40]}"
            )
        elif name == "priority" and not unsigned_64(value):
            raise InvalidInputError(
                f"the 'priority' parameter must be an unsigned 64-bit integer, got {json.dumps(value)[:40]}"
            )
        elif not isinstance(value, (str, int, float)):  # a bool is an int
            raise InvalidInputError(
                f"request parameter {name!r} must be a string, a number or true/false, "
                f"got {json.dumps(value)[:40]}"
            )


def unsigned_64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


def flag(parameters: Mapping[str, Any], name: str, default: bool, what: str) -> bool:
    value = parameters.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what}: the {name!r} parameter must be true or false, got {value!r}")
    return value


def timeout_of(raw: object) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise InvalidInputError("the 'timeout' parameter must be a non-negative integer of microseconds")
    if raw == 0:
        return None  # Triton's default: 0 is no timeout, not one that has already passed
    # Triton reads it as an unsigned 64-bit count; JSON allows more digits than a float holds.
    return min(raw, 2**64 - 1) / 1_000_000
