"""Triton's classification extension: an output asked for with ``parameters.classification`` = k is
answered as its k highest values per batch row instead of the tensor itself.

As Triton (``classification.cc`` and its HTTP server): the output becomes a BYTES tensor of shape
``[batch, min(k, values per row)]``, each element the string ``"<value>:<index>"``, or
``"<value>:<index>:<label>"`` where the model has a label for that index. Values are written as C++'s
``std::to_string`` writes them (``%f`` for floating point, decimal for integers); BOOL and FP16
outputs are refused, as Triton refuses types it cannot rank. Triton's sort is not stable; here equal
values keep index order. Binary outputs carry the strings in Triton's BYTES layout: each one a
4-byte little-endian length, then its bytes.

Labels: a model whose ``postprocess`` kind is ``none`` (raw tensors) and which lists ``labels`` in
its model.yaml names the classes of its postprocess output (its first output by default); the
detectors' labels name class channels, not indices of the flattened output, and are not used here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gateway.errors import InvalidInputError

__all__ = ["binary_strings", "top_classes"]

Array = npt.NDArray[np.generic]
_UNRANKED = frozenset({"b", "c", "O", "S", "U", "V"})
"""numpy kinds Triton has no classification for (BOOL, and anything not a number)."""


def top_classes(name: str, array: Array, count: int, labels: Sequence[str]) -> tuple[list[str], list[int]]:
    """The classification strings of output ``name`` (batch dimension first) and their shape."""
    if array.dtype.kind in _UNRANKED or array.dtype == np.float16:
        raise InvalidInputError(
            f"output {name!r}: classification is not available for an output of numpy type {array.dtype}"
        )
    rows = array.reshape(array.shape[0] if array.ndim else 1, -1)
    per_row = rows.shape[1]
    kept = min(count, per_row)
    floating = array.dtype.kind == "f"
    strings: list[str] = []
    for row in rows:
        # Descending, equal values in index order: a stable ascending sort of the reversed row,
        # read backwards.
        order = per_row - 1 - np.argsort(row[::-1], kind="stable")[::-1]
        for index in order[:kept].tolist():
            value = row[index]
            text = f"{float(value):f}" if floating else str(int(value))
            label = labels[index] if index < len(labels) else ""
            strings.append(f"{text}:{index}:{label}" if label else f"{text}:{index}")
    return strings, [rows.shape[0], kept]


def binary_strings(strings: Sequence[str]) -> bytes:
    """``strings`` in Triton's binary BYTES layout (a 4-byte little-endian length before each)."""
    encoded = [text.encode() for text in strings]
    return b"".join(struct.pack("<I", len(data)) + data for data in encoded)
