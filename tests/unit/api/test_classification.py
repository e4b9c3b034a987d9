"""Triton's classification strings, alone (pure logic): order, ties, integer values, the BYTES layout."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gateway.api.classification import binary_strings, top_classes
from gateway.errors import InvalidInputError


def test_equal_values_keep_index_order() -> None:
    strings, shape = top_classes("o", np.array([[1.0, 5.0, 5.0, 2.0]], dtype=np.float32), 3, ())
    assert (strings, shape) == (["5.000000:1", "5.000000:2", "2.000000:3"], [1, 3])


def test_integer_outputs_are_written_as_integers_and_unsigned_ones_rank_by_value() -> None:
    strings, _ = top_classes("o", np.array([[3, 250, 7]], dtype=np.uint8), 2, ("a", "b"))
    assert strings == ["250:1:b", "7:2"]


def test_every_dimension_after_the_batch_is_one_row_of_classes() -> None:
    values = np.arange(8, dtype=np.int32).reshape(2, 2, 2)
    strings, shape = top_classes("o", values, 1, ())
    assert (strings, shape) == (["3:3", "7:3"], [2, 1])


@pytest.mark.parametrize("dtype", [np.bool_, np.float16])
def test_types_triton_cannot_rank_are_refused_naming_the_output(dtype: type) -> None:
    with pytest.raises(InvalidInputError, match="output 'scores': classification is not available"):
        top_classes("scores", np.zeros((1, 3), dtype=dtype), 1, ())


def test_binary_strings_are_length_prefixed() -> None:
    assert binary_strings(["1:0", ""]) == struct.pack("<I", 3) + b"1:0" + struct.pack("<I", 0)
