"""JSON bodies whose objects repeat a key: refused naming it, at any depth (pure logic)."""

from __future__ import annotations

import pytest

from gateway.api.json_body import load_json
from gateway.errors import InvalidInputError


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"inputs": [], "inputs": [1]}', "inputs"),
        (b'{"a": {"b": 1, "c": 2, "b": 3}}', "b"),
        (b'[{"x": 1}, {"y": 1, "y": 1}]', "y"),
        ('{"\u00e9": 1, "\u00e9": 2}'.encode(), "\u00e9"),
    ],
)
def test_a_repeated_key_is_named(body: bytes, key: str) -> None:
    with pytest.raises(InvalidInputError, match="the header repeats the key") as refusal:
        load_json(body, "the header")
    assert key in str(refusal.value)


def test_the_same_key_in_different_objects_is_taken() -> None:
    assert load_json(b'[{"name": 1}, {"name": 2}, {"name": {"name": 3}}]') == [
        {"name": 1},
        {"name": 2},
        {"name": {"name": 3}},
    ]
