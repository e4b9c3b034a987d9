"""A request's tensors against the model version that will run it: names, datatypes, ranks, fixed
dimensions and the batch size, checked before the request is queued so that a bad one fails alone,
with an InvalidInputError naming the problem, and never poisons the batch it would have joined."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from gateway.domain import ModelRef, TensorSpec
from gateway.errors import InvalidInputError
from gateway.inference.loaded import LoadedVersion

__all__ = ["check_inputs"]


def check_inputs(loaded: LoadedVersion, inputs: Mapping[str, npt.NDArray[np.generic]], limit: int) -> int:
    """The request's batch size; InvalidInputError naming the first problem found."""
    wanted = {spec.name for spec in loaded.inputs}
    missing = sorted(wanted - set(inputs))
    unknown = sorted(set(inputs) - wanted)
    if missing or unknown:
        raise InvalidInputError(
            f"model {loaded.ref} takes inputs {sorted(wanted)}; missing {missing}, unknown {unknown}"
        )
    rows: int | None = None
    for spec in loaded.inputs:
        array = inputs[spec.name]
        _check_tensor(loaded.ref, spec, array)
        if rows is None:
            rows = array.shape[0]
        elif array.shape[0] != rows:
            raise InvalidInputError(
                f"input {spec.name!r} has batch size {array.shape[0]}, other inputs have {rows}"
            )
    assert rows is not None  # model.yaml declares at least one input
    if not 1 <= rows <= limit:
        raise InvalidInputError(f"batch size {rows} is outside 1..{limit} for model {loaded.ref}")
    return rows


def _check_tensor(ref: ModelRef, spec: TensorSpec, array: npt.NDArray[np.generic]) -> None:
    if array.dtype != spec.datatype.numpy_dtype:
        raise InvalidInputError(
            f"input {spec.name!r} of model {ref} is {spec.datatype.value}, got numpy {array.dtype}"
        )
    if array.ndim != len(spec.shape):
        raise InvalidInputError(
            f"input {spec.name!r} of model {ref} has shape {list(spec.shape)}, got {list(array.shape)}"
        )
    for want, have in zip(spec.shape[1:], array.shape[1:], strict=True):
        if want not in (-1, have):
            raise InvalidInputError(
                f"input {spec.name!r} of model {ref} has shape {list(spec.shape)}, got {list(array.shape)}"
            )
