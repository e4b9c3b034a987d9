"""OIP v2 JSON ``data``: the values of one input tensor, taken only as its datatype's own JSON type.

numpy would coerce what a client did not mean: ``"false"`` to True, ``null`` among numbers to NaN,
1.5 to 1 for an integer type, 70000 to infinity for FP16. Each is refused naming the value instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from gateway.domain import TensorType
from gateway.errors import InvalidInputError

__all__ = ["json_array"]

Array = npt.NDArray[np.generic]

# Python types a JSON value decodes to that each kind of numpy dtype takes without coercion (type()
# is exact, so a bool is not an int here).
_JSON_VALUE_TYPES: Mapping[str, frozenset[type]] = {
    "b": frozenset({bool}),
    "i": frozenset({int}),
    "u": frozenset({int}),
    "f": frozenset({int, float}),
}
_JSON_VALUE_NAMES: Mapping[str, str] = {
    "b": "true or false",
    "i": "integers",
    "u": "integers",
    "f": "numbers",
}


def json_array(name: str, data: object, datatype: TensorType) -> Array:
    """JSON ``data`` as the datatype's array, refusing what numpy would quietly coerce: a string
    (``"false"`` would be True), a boolean or null among numbers (1 or NaN), a fraction for an
    integer type (truncated), a list where a number belongs (jagged), a float past FP16's range."""
    try:
        values = np.array(data, dtype=object)
    except ValueError as exc:  # numpy's own limits (dimensions), past what load_json lets through
        raise InvalidInputError(f"input {name!r}: 'data' is not an array: {exc}") from None
    # reshape, not .flat: numpy's iterators take at most 32 dimensions, JSON nesting allows ~60.
    flat = values.reshape(-1)
    kind = datatype.numpy_dtype.kind
    if not set(map(type, flat)) <= _JSON_VALUE_TYPES[kind]:
        wrong = next(value for value in flat if type(value) not in _JSON_VALUE_TYPES[kind])
        found = "lists of different lengths (jagged)" if isinstance(wrong, list) else json.dumps(wrong)[:40]
        raise InvalidInputError(
            f"input {name!r}: 'data' holds {found}; {datatype.value} takes {_JSON_VALUE_NAMES[kind]}"
        )
    try:
        with np.errstate(over="raise"):
            return values.astype(datatype.numpy_dtype)
    except (OverflowError, FloatingPointError) as exc:
        raise InvalidInputError(
            f"input {name!r}: 'data' holds a value out of {datatype.value}'s range: {exc}"
        ) from None
